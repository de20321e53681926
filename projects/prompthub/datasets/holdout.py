"""A deterministic held-out part of a training list, for model selection."""
import copy
import hashlib
from typing import Any, Dict, Iterable, List, Optional, Set, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init

from projects.prompthub.registry import DATASETS

HOLDOUT_PARTS = ('train', 'holdout')


def holdout_names(names: Iterable[str],
                  ratio: float = 0.1,
                  seed: int = 0) -> Set[str]:
    """Pick the held-out names of a list, deterministically.

    Every distinct name gets the key ``sha1(f'{seed}:{name}')``; the
    ``round(ratio * n)`` names with the smallest keys (at least one when
    ``ratio > 0``, at most ``n - 1``) are held out. The choice depends
    only on the set of names, the ratio and the seed: not on the order of
    the list, the machine, the Python hash seed or the number of ranks.

    Args:
        names (Iterable[str]): Names, duplicates allowed.
        ratio (float): Fraction of distinct names to hold out, in [0, 1).
            Defaults to 0.1.
        seed (int): Salt of the hash. Defaults to 0.

    Returns:
        set[str]: The held-out names.

    Raises:
        ValueError: ``ratio`` is outside [0, 1), or a positive ratio is
            asked of fewer than two distinct names.
    """
    if not 0 <= ratio < 1:
        raise ValueError(f'ratio must be in [0, 1), got {ratio!r}.')
    distinct = sorted(set(str(n) for n in names))
    if ratio == 0:
        return set()
    if len(distinct) < 2:
        raise ValueError(
            f'Cannot hold out a fraction of {len(distinct)} distinct '
            'name(s); the two parts must both be non-empty.')
    count = min(max(int(round(ratio * len(distinct))), 1), len(distinct) - 1)

    def key(name: str) -> str:
        return hashlib.sha1(f'{seed}:{name}'.encode('utf-8')).hexdigest()

    return set(sorted(distinct, key=lambda n: (key(n), n))[:count])


@DATASETS.register_module()
class HoldoutSubset:
    """One part of a deterministic split of a dataset by ``sample_name``.

    The reference selects its best epoch on the test split (docs/method.md,
    section 9.5). For an honest selection, hold out a fraction of the
    *training*
    list: ``part='holdout'`` is the validation set, ``part='train'`` the
    rest. The split is made per distinct ``sample_name`` (see
    :func:`holdout_names`), so all samples of one image (e.g. one per
    class in Pascal-5i) fall in the same part; the two parts (same
    ``ratio`` and ``seed``) are disjoint and together cover the dataset.

    The subset keeps the order of the wrapped dataset and behaves like an
    MMEngine dataset (``metainfo``, ``full_init``, ``get_data_info``,
    ``__len__``, ``__getitem__``), so it can be the ``dataset`` or the
    ``prompt_dataset`` of ``RetrievalAugmentedDataset``. Indices and
    ``sample_idx`` refer to positions in the subset. When the wrapped
    dataset's pipeline drops a sample in training mode, another sample
    *of the subset* is drawn (MMEngine's ``BaseDataset`` behaviour).

    Args:
        dataset (dict | BaseDataset): The dataset to split or its config.
        ratio (float): Fraction of distinct names held out, in [0, 1).
            Defaults to 0.1.
        seed (int): Salt of the name hash. Defaults to 0.
        part (str): ``'train'`` or ``'holdout'``. Defaults to ``'train'``.
        name_key (str): Record key that groups samples. Defaults to
            ``'sample_name'``.
        max_refetch (int): Redraws when the pipeline returns None in
            training mode. Defaults to 1000.
        lazy_init (bool): Defer :meth:`full_init`. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 ratio: float = 0.1,
                 seed: int = 0,
                 part: str = 'train',
                 name_key: str = 'sample_name',
                 max_refetch: int = 1000,
                 lazy_init: bool = False) -> None:
        if part not in HOLDOUT_PARTS:
            raise ValueError(
                f'part must be one of {HOLDOUT_PARTS}, got {part!r}.')
        if not 0 <= ratio < 1:
            raise ValueError(f'ratio must be in [0, 1), got {ratio!r}.')
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        self.dataset = dataset
        self.ratio = ratio
        self.seed = seed
        self.part = part
        self.name_key = name_key
        self.max_refetch = max_refetch
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """The wrapped dataset's meta information (a deep copy)."""
        return copy.deepcopy(self.dataset.metainfo)

    @property
    def test_mode(self) -> bool:
        """The wrapped dataset's ``test_mode``."""
        return bool(getattr(self.dataset, 'test_mode', False))

    def full_init(self) -> None:
        """Initialise the wrapped dataset and select this part's samples.

        Idempotent.
        """
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        names = [
            str(self.dataset.get_data_info(i)[self.name_key])
            for i in range(len(self.dataset))
        ]
        held = holdout_names(names, self.ratio, self.seed)
        keep = self.part == 'holdout'
        self.indices: List[int] = [
            i for i, name in enumerate(names) if (name in held) == keep
        ]
        if not self.indices:
            raise ValueError(
                f'The {self.part!r} part of {type(self.dataset).__name__} '
                f'(ratio={self.ratio}, seed={self.seed}) is empty.')
        self.names: List[str] = sorted({names[i] for i in self.indices})
        self._positions: Dict[int, int] = {
            inner: pos
            for pos, inner in enumerate(self.indices)
        }
        self._fully_initialized = True

    @force_full_init
    def __len__(self) -> int:
        return len(self.indices)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The wrapped record of subset position ``idx``."""
        info = self.dataset.get_data_info(self.indices[idx])
        info['sample_idx'] = idx if idx >= 0 else len(self) + idx
        return info

    def _prepare(self, idx: int) -> Optional[Any]:
        inner = self.indices[idx]
        if hasattr(self.dataset, 'prepare_data'):
            return self.dataset.prepare_data(inner)
        return self.dataset[inner]

    @force_full_init
    def __getitem__(self, idx: int) -> Any:
        idx = idx if idx >= 0 else len(self) + idx
        if self.test_mode:
            data = self._prepare(idx)
            if data is None:
                raise RuntimeError(
                    f'Test-time pipeline returned None for sample {idx} of '
                    'the subset; test pipelines must not drop samples.')
        else:
            for _ in range(self.max_refetch + 1):
                data = self._prepare(idx)
                if data is not None:
                    break
                idx = int(np.random.randint(0, len(self)))
            else:
                raise RuntimeError(
                    f'Cannot find a valid sample after {self.max_refetch} '
                    'retries; check the pipeline.')
        if isinstance(data, dict):
            data['sample_idx'] = idx
        return data

    def get_subset_(self, indices: Union[List[int], int]) -> None:
        """Not supported: use ``indices`` on the wrapped dataset."""
        raise NotImplementedError(
            f'{self.__class__.__name__} does not support get_subset_.')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'dataset={type(self.dataset).__name__}, '
                f'ratio={self.ratio}, seed={self.seed}, part={self.part!r}, '
                f'len={len(self) if self._fully_initialized else "?"})')
