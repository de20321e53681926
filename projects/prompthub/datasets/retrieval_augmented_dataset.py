"""Dataset wrapper attaching retrieved prompt pairs to every query."""
import copy
import logging
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, Compose, force_full_init
from mmengine.logging import print_log

from projects.prompthub.registry import DATASETS
from projects.prompthub.structures.record_contract import record_value
from projects.prompthub.utils.config_references import unresolved_hint
from projects.prompthub.utils.validation import check_count

PROMPT_RULES = ('query_class', 'last')
ON_STALE = ('error', 'skip')
# Index files already warned about (once per process).
_UNCHECKED_WARNED = set()


class _NameLists:
    """``RetrievalIndex``-like view of an in-memory ``{query: [names]}``."""

    def __init__(self, lists: Dict[str, Sequence[str]]) -> None:
        self.lists = {str(k): [str(n) for n in v] for k, v in lists.items()}
        self.query_names = list(self.lists)

    def neighbours(self,
                   query_name: str,
                   k: Optional[int] = None) -> List[str]:
        return self.lists[query_name][:k]


@DATASETS.register_module()
class RetrievalAugmentedDataset:
    """Attach the top-N retrieved prompt pairs to every query sample.

    ``dataset`` provides the queries and ``prompt_dataset`` the prompt pool
    (the query dataset itself when None: train -> train; for testing use
    the val split as ``dataset`` and the train split as
    ``prompt_dataset``). ``results = dataset[i]`` (through its own
    pipeline, i.e. loading and resizing) gets

    - ``prompt_results``: ``num_prompts`` samples of ``prompt_dataset``,
      each through the prompt dataset's pipeline, best first;
    - ``prompt_indices``: their indices in ``prompt_dataset``;

    and then runs the wrapper ``pipeline`` (e.g. ``PromptReplacement`` for
    training, ``PackVICLInputs``). Transforms with ``get_indexes`` follow
    mmdet's ``MultiImageMixDataset`` protocol: ``get_indexes(self)``
    returns prompt-pool indices, whose samples are put in
    ``results['mix_results']`` (indices in ``results['mix_indices']``).

    Record contract: every record of ``dataset`` and ``prompt_dataset``
    (``get_data_info(i)``) must hold ``sample_name``, the retrieval key
    (the image's name as in the index, the same for every record of one
    image; a missing one is an error naming the record and this fix), and
    optionally ``class_id`` (see ``prompt_rule``). The loading pipeline
    needs more: ``LoadVICLPair(task='segmentation')`` reads ``img_path``,
    ``seg_map_path`` and ``seg_fg_value`` (the mask value that is the
    binary foreground; without it ``class_id + 1``, the Pascal-5i
    convention). The datasets of this project provide them; a stock mmseg
    dataset (``PascalVOCDataset``, ``ADE20KDataset``, ...) does not: wrap
    it in :class:`StockSegToVICL`, which derives them exactly for the
    classes you choose::

        dataset=dict(
            type='StockSegToVICL',
            dataset=dict(type='PascalVOCDataset', ...),  # as in mmseg
            classes=['person'],
            missing_class='skip')

    The retrieval index maps a query ``sample_name`` to ranked candidate
    names. Names map to prompt samples as in the reference (docs/method.md,
    section 4):
    candidates are de-duplicated (first occurrence kept), the query's own
    name is dropped when ``exclude_self``, and for a name with several
    samples (e.g. one per class in Pascal-5i) ``prompt_rule`` picks one:

    - ``'query_class'`` (training): the sample with the query's
      ``class_id`` if the image has it, else the image's first-listed
      sample;
    - ``'last'`` (testing): the image's last-listed sample.

    The selection is computed once in :meth:`full_init` (an int64 array,
    the same on every rank, so ``DefaultSampler`` under DDP just works) and
    is deterministic; only wrapper transforms such as
    ``PromptReplacement`` draw random numbers.

    Args:
        dataset (dict | BaseDataset): Query dataset or its config.
        index (str | object): Retrieval index: a ``.npz`` written by
            ``RetrievalIndex.save``, a reference-format ``.json`` file, a
            ``RetrievalIndex`` or a ``{query_name: [names]}`` dict.
        prompt_dataset (dict | BaseDataset, optional): Prompt pool; None
            uses ``dataset``. Defaults to None.
        num_prompts (int): Prompts per query (N). Defaults to 1.
        pipeline (Sequence[dict | callable]): Transforms run on the
            assembled results. Defaults to ().
        prompt_rule (str, optional): ``'query_class'`` or ``'last'``;
            None picks ``'last'`` in test mode and ``'query_class'``
            otherwise. Defaults to None.
        exclude_self (bool, optional): Drop the query's own name from its
            candidates; None means True iff the prompt pool is the query
            dataset. Defaults to None.
        skip_unknown_candidates (bool): Skip candidate names that are not
            in the prompt dataset instead of raising, for a prompt pool
            that is deliberately a part of the indexed one (e.g. a
            ``HoldoutSubset`` of it). Defaults to False.
        on_stale (str): What to do when the datasets no longer match the
            ones the index was built for (samples added or removed since;
            checked for indexes that record their datasets, see
            ``tools/misc/build_retrieval_index.py``). ``'error'`` raises,
            naming
            the index file and the command that rebuilds it; ``'skip'``
            uses the index anyway, logging a warning with the counts:
            candidates that are gone are skipped, added samples are never
            retrieved and added queries still raise. A dataset wrapping
            (``.dataset``) the indexed one, such as ``HoldoutSubset``, is
            not stale. Defaults to 'error'.
        expected_fingerprint (dict, optional): Passed to
            ``RetrievalIndex.load`` to reject a stale ``.npz`` index.
            Defaults to None.
        test_mode (bool, optional): None takes the query dataset's
            ``test_mode``. Defaults to None.
        metainfo (dict, optional): Overrides of the reported meta
            information. By default the wrapper reports the binary VICL
            classes ``('background', 'foreground')`` (what every VICL model
            predicts, and what mmseg's ``IoUMetric`` must count) and keeps
            the query dataset's classes as ``source_classes``. Defaults to
            None.
        lazy_init (bool): Defer :meth:`full_init`. Defaults to False.
    """

    BINARY_METAINFO = dict(
        classes=('background', 'foreground'),
        palette=[[0, 0, 0], [255, 255, 255]])

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 index: Any,
                 prompt_dataset: Optional[Union[dict, BaseDataset]] = None,
                 num_prompts: int = 1,
                 pipeline: Sequence[Union[dict, Any]] = (),
                 prompt_rule: Optional[str] = None,
                 exclude_self: Optional[bool] = None,
                 skip_unknown_candidates: bool = False,
                 on_stale: str = 'error',
                 expected_fingerprint: Optional[dict] = None,
                 test_mode: Optional[bool] = None,
                 metainfo: Optional[dict] = None,
                 lazy_init: bool = False) -> None:
        self.dataset = self._build(dataset, 'dataset')
        self.prompt_dataset = (
            self.dataset if prompt_dataset is None else self._build(
                prompt_dataset, 'prompt_dataset'))
        same_pool = self.prompt_dataset is self.dataset
        self.num_prompts = check_count(num_prompts, 'num_prompts',
                                       self.__class__.__name__)
        if test_mode is None:
            test_mode = bool(getattr(self.dataset, 'test_mode', False))
        self.test_mode = test_mode
        if prompt_rule is None:
            prompt_rule = 'last' if test_mode else 'query_class'
        if prompt_rule not in PROMPT_RULES:
            raise ValueError(f'prompt_rule must be one of {PROMPT_RULES}, '
                             f'got {prompt_rule!r}.')
        self.prompt_rule = prompt_rule
        self.exclude_self = same_pool if exclude_self is None else bool(
            exclude_self)
        self.skip_unknown_candidates = skip_unknown_candidates
        if on_stale not in ON_STALE:
            raise ValueError(
                f'on_stale must be one of {ON_STALE}, got {on_stale!r}.')
        self.on_stale = on_stale
        self.index = index
        self.index_file = (
            index if isinstance(index, str) else f'<{type(index).__name__}>')
        self.expected_fingerprint = expected_fingerprint
        self._index: Any = None
        self.pipeline = Compose(pipeline)
        if test_mode and any(
                hasattr(t, 'get_indexes') for t in self.pipeline.transforms):
            # Random prompt replacement is a training augmentation.
            print_log(
                f'{self.__class__.__name__} is in test mode but its pipeline '
                'has a random mix transform (e.g. PromptReplacement); test '
                'results will not be deterministic.',
                logger='current',
                level=logging.WARNING)
        source = self.dataset.metainfo
        self._metainfo = dict(
            source,
            source_classes=source.get('classes'),
            **self.BINARY_METAINFO)
        self._metainfo.update(metainfo or {})
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _build(cfg: Union[dict, BaseDataset], what: str) -> BaseDataset:
        if isinstance(cfg, dict):
            return DATASETS.build(cfg)
        if isinstance(cfg, BaseDataset) or (hasattr(cfg, '__getitem__')
                                            and hasattr(cfg, '__len__')
                                            and hasattr(cfg, 'metainfo')):
            return cfg
        raise TypeError(f'{what} must be a config dict or a dataset, got '
                        f'{type(cfg)}.')

    @property
    def metainfo(self) -> dict:
        """Meta information (a deep copy): the query dataset's, with the
        binary VICL classes unless overridden by ``metainfo``."""
        return copy.deepcopy(self._metainfo)

    def _load_index(self) -> Any:
        index = self.index
        if isinstance(index, dict):
            return _NameLists(index)
        if not isinstance(index, str):
            return index
        if not osp.isfile(index):
            raise FileNotFoundError(
                f'Retrieval index not found: {index!r}. Build it with '
                'tools/misc/build_retrieval_index.py or pass the reference '
                f'top-50 JSON.{unresolved_hint(index)}')
        # Imported here: the retrieval package pulls in timm and torch
        # feature code that plain dataset users do not need.
        from projects.prompthub.retrieval.index import RetrievalIndex
        if index.endswith('.json'):
            return RetrievalIndex.from_reference_json(index)
        return RetrievalIndex.load(
            index, expected_fingerprint=self.expected_fingerprint)

    def _rebuild_hint(self, index: Any) -> str:
        """The sentence telling how to rebuild the index in use."""
        command = getattr(index, 'build_command', None)
        if not (isinstance(self.index, str) or command):
            return ('Rebuild it for these datasets with '
                    'tools/misc/build_retrieval_index.py.')
        from projects.prompthub.retrieval.index import rebuild_command
        return rebuild_command(self.index_file, command)

    def _check_fresh(self, index: Any, query_names: List[str],
                     pool_names: List[str]) -> bool:
        """Compare the index with the datasets in use.

        Returns:
            bool: Whether unknown candidates must be skipped because the
            index is stale and ``on_stale='skip'``.
        """
        from projects.prompthub.retrieval.freshness import stale_datasets
        problems = stale_datasets(index, self.dataset, query_names,
                                  self.prompt_dataset, pool_names)
        if problems is None:
            if isinstance(self.index, str) and (osp.abspath(self.index)
                                                not in _UNCHECKED_WARNED):
                _UNCHECKED_WARNED.add(osp.abspath(self.index))
                print_log(
                    f'Retrieval index {self.index_file!r} does not record '
                    'the datasets it was made for (a reference JSON, or an '
                    'index built before this check existed), so samples '
                    'added to or removed from the datasets since cannot be '
                    f'detected. {self._rebuild_hint(index)}',
                    logger='current',
                    level=logging.WARNING)
            return False
        if not problems:
            return False
        msg = (f'Stale retrieval index {self.index_file!r}: the datasets '
               f"changed since it was built: {'; '.join(problems)}. Its "
               'prompts would miss the added samples and name removed ones.')
        if self.on_stale == 'error':
            raise ValueError(f'{msg} {self._rebuild_hint(index)} (Or set '
                             "on_stale='skip' to use it as it is.)")
        print_log(
            f"{msg} on_stale='skip': using it anyway; candidates that are "
            'gone are skipped and added samples are never retrieved.',
            logger='current',
            level=logging.WARNING)
        return True

    def _select(self, name: str, class_id: Any, candidates: List[str],
                groups: Dict[str, List[int]], pool_classes: List[Any],
                qidx: int, skip_unknown: bool) -> List[int]:
        chosen = []
        seen = set()
        for cand in candidates:
            if cand in seen:
                continue
            seen.add(cand)
            if self.exclude_self and cand == name:
                continue
            members = groups.get(cand)
            if members is None:
                if skip_unknown:
                    continue
                raise KeyError(
                    f'Candidate {cand!r} of query {name!r} (index '
                    f'{self.index_file!r}) is not a sample_name of the '
                    f'prompt dataset {type(self.prompt_dataset).__name__}; '
                    'was the index built for another split or fold, or has '
                    'the dataset changed since? '
                    f'{self._rebuild_hint(self._index)} '
                    '(skip_unknown_candidates=True ignores such names when '
                    'the prompt pool is deliberately a part of the indexed '
                    'one.)')
            if self.prompt_rule == 'last':
                chosen.append(members[-1])
            else:
                same = [j for j in members if pool_classes[j] == class_id]
                chosen.append(same[0] if same else members[0])
            if len(chosen) == self.num_prompts:
                return chosen
        raise ValueError(
            f'Query {name!r} (sample {qidx}) has only {len(chosen)} usable '
            f'candidate(s) in {self.index_file!r} but num_prompts='
            f'{self.num_prompts} (after de-duplication'
            f"{', self-exclusion' if self.exclude_self else ''} and name "
            'mapping).')

    def full_init(self) -> None:
        """Initialise the datasets and resolve every query's prompts.

        Idempotent. Raises clear errors for a stale index (see
        ``on_stale``), a query missing from the index and queries with
        fewer than ``num_prompts`` candidates.
        """
        if self._fully_initialized:
            return
        for ds in {
                id(self.dataset): self.dataset,
                id(self.prompt_dataset): self.prompt_dataset
        }.values():
            if hasattr(ds, 'full_init'):
                ds.full_init()
        index = self._index = self._load_index()
        known = set(index.query_names)

        groups: Dict[str, List[int]] = OrderedDict()
        pool_classes = []
        user = self.__class__.__name__
        for j in range(len(self.prompt_dataset)):
            info = self.prompt_dataset.get_data_info(j)
            name = record_value(info, 'sample_name', j, self.prompt_dataset,
                                user, 'prompt')
            groups.setdefault(str(name), []).append(j)
            pool_classes.append(info.get('class_id'))
        queries = []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            name = record_value(info, 'sample_name', i, self.dataset, user,
                                'query')
            queries.append((str(name), info.get('class_id')))
        stale_skip = self._check_fresh(
            index, list(dict.fromkeys(name for name, _ in queries)),
            list(groups))
        skip_unknown = stale_skip or self.skip_unknown_candidates

        table = np.empty((len(self.dataset), self.num_prompts), dtype=np.int64)
        cache: Dict[tuple, List[int]] = {}
        for i, (name, class_id) in enumerate(queries):
            if name not in known:
                raise KeyError(
                    f'Query {name!r} (sample {i} of '
                    f'{type(self.dataset).__name__}) is missing from the '
                    f'retrieval index {self.index_file!r}; was it built for '
                    'this split and fold, or has the dataset changed since? '
                    f'{self._rebuild_hint(index)}')
            key = (name, class_id)
            if key not in cache:
                cache[key] = self._select(name, class_id,
                                          list(index.neighbours(name)), groups,
                                          pool_classes, i, skip_unknown)
            table[i] = cache[key]
        self._prompt_table = table
        self._fully_initialized = True

    @force_full_init
    def get_prompt_indices(self, idx: int) -> List[int]:
        """Prompt-dataset indices of query ``idx``, best first."""
        return [int(j) for j in self._prompt_table[idx]]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The query's data info plus its ``prompt_indices``."""
        info = self.dataset.get_data_info(idx)
        info['prompt_indices'] = self.get_prompt_indices(idx)
        return info

    @force_full_init
    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            print_log(
                'Please call `full_init` method manually to accelerate the '
                'speed.',
                logger='current',
                level=logging.WARNING)
            self.full_init()
        results = self.dataset[idx]
        # In train mode BaseDataset may substitute another sample when its
        # pipeline drops one; take the prompts of the sample returned.
        prompt_indices = self.get_prompt_indices(
            int(results.get('sample_idx', idx)))
        results['prompt_results'] = [
            self.prompt_dataset[j] for j in prompt_indices
        ]
        results['prompt_indices'] = prompt_indices
        for transform in self.pipeline.transforms:
            if hasattr(transform, 'get_indexes'):
                indexes = [int(j) for j in transform.get_indexes(self)]
                results['mix_results'] = [
                    self.prompt_dataset[j] for j in indexes
                ]
                results['mix_indices'] = indexes
            results = transform(results)
            if results is None:
                raise RuntimeError(
                    f'{transform!r} returned None for query {idx}; the '
                    'wrapper pipeline must not drop samples.')
            if isinstance(results, dict):
                results.pop('mix_results', None)
                results.pop('mix_indices', None)
        return results

    def get_subset_(self, indices: Union[List[int], int]) -> None:
        """Not supported: subset the query dataset (``indices=``)."""
        raise NotImplementedError(
            f'{self.__class__.__name__} does not support get_subset_; set '
            '`indices` on the query dataset instead.')

    def get_subset(self, indices: Union[List[int], int]) -> None:
        """Not supported: subset the query dataset (``indices=``)."""
        raise NotImplementedError(
            f'{self.__class__.__name__} does not support get_subset; set '
            '`indices` on the query dataset instead.')
