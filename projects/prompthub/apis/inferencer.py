"""PromptHubInferencer: mmengine's ``BaseInferencer`` on the test pipeline.

Query images plus prompt pairs (given, or looked up in a retrieval index)
become the records the datasets produce and go through the config's own
test pipeline, then ``model.test_step``: the path ``tools/test.py`` runs,
so a prediction of the inferencer equals the test's for the same files.
"""
import contextlib
import copy
import functools
import logging
import os.path as osp
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import cv2
import mmcv
import mmengine
import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose
from mmengine.fileio import isdir, list_dir_or_file
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.utils import import_modules_from_strings
from mmseg.structures import SegDataSample
from torch import nn

from projects.prompthub.datasets.retrieval_augmented_dataset import _NameLists
from projects.prompthub.evaluation.prediction_io import resize_mask
from projects.prompthub.models.utils.strict_load import (ALLOW_KEY,
                                                         load_model_checkpoint)
from projects.prompthub.registry import MODELS
from projects.prompthub.structures import cell_size
from projects.prompthub.utils.config_references import \
    resolve_config_references
from projects.prompthub.visualization import draw_vicl_grid, fused_prompt_cells
from .inference_io import (ImageLike, Prompt, load_candidates, output_stems,
                           write_image)

#: The dataset loader and the inferencer's stand-in for it (the way
#: mmseg's inferencer swaps ``LoadImageFromFile`` for ``InferencerLoader``).
DATASET_LOADER = 'LoadVICLPair'
INFERENCE_LOADER = 'LoadVICLInferencePair'
#: Loader settings that only concern dataset files.
_DATASET_ONLY = ('cache_dir', 'cache_verify')


class EpisodePipeline:
    """One query and its prompt records -> one packed model input.

    Runs what ``RetrievalAugmentedDataset.__getitem__`` runs for a test
    sample: the query record through the query dataset's pipeline, each
    prompt record through the prompt dataset's, then the wrapper's
    pipeline (``PackVICLInputs``) on the assembled results.

    Args:
        query (Callable): Loading pipeline of the query.
        prompt (Callable): Loading pipeline of a prompt.
        episode (Callable): The wrapper's pipeline.
    """

    def __init__(self, query: Callable, prompt: Callable,
                 episode: Callable) -> None:
        self.query = query
        self.prompt = prompt
        self.episode = episode

    def __call__(self, episode: dict) -> dict:
        results = self.query(dict(episode['query']))
        results['prompt_results'] = [
            self.prompt(dict(record)) for record in episode['prompts']
        ]
        packed = self.episode(results)
        if packed is None:
            raise RuntimeError('the test pipeline dropped an inference '
                               'episode; it must not filter samples.')
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(query={self.query}, '
                f'prompt={self.prompt}, episode={self.episode})')


class PromptHubInferencer(BaseInferencer):
    """Predict query masks from prompt pairs with any VICL model.

    mmseg's ``MMSegInferencer`` for visual in-context learning: the model
    comes from a config (``PromptHub`` or ``VICLInpainter``) and a
    checkpoint; inputs go through the config's test pipeline
    (``LoadVICLPair`` of the test datasets, swapped for
    :class:`LoadVICLInferencePair` with the same settings, and the test
    wrapper's ``PackVICLInputs``) and ``model.test_step``, exactly as in
    ``tools/test.py``. Configs whose test data are rendered in memory (the
    synthetic ones) have no loader; user files are then loaded at the
    model's cell size with ``LoadVICLPair``'s segmentation defaults (PIL
    bicubic).

    A query comes with prompt pairs given explicitly (shared by every
    query) or, by its file stem, from a retrieval index and a pool of
    candidate pairs.

    Example (``config``: e.g. the demo config,
    ``configs/prompthub/prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py``)::

        >>> inferencer = PromptHubInferencer(config)
        >>> out = inferencer('query.png', prompts=[('p1.png', 'p1_m.png')],
        ...                  out_dir='work_dirs/infer')
        >>> out['predictions'][0]['mask'].shape  # the query's (H, W)

    Args:
        model (str | Config | dict): Config path or config.
        weights (str, optional): Checkpoint loaded into the model exactly:
            every key with its shape, apart from ``load_from_allow`` (see
            :mod:`projects.prompthub.models.utils.strict_load`). Defaults
            to None (the config's own weights, e.g. a constructor
            checkpoint; the rest stays random, with a warning).
        device (str, optional): Defaults to None: CUDA when available,
            else CPU.
        mask_fg_value (float, optional): Foreground label id of prompt
            masks with several classes. Defaults to None.
        mask_threshold (float, optional): Foreground is above this value,
            for soft or JPEG prompt masks. Defaults to None. Without
            either, a prompt mask must be 0 plus one foreground value
            (0/1, 0/255, 0/label id; a 255 void band next to a label id is
            background); see :func:`mask_foreground`.
        load_from_allow (dict, optional): Overrides the config's
            ``load_from_allow``, e.g. ``dict(missing=['backbone.'])``.
        scope (str): Registry scope when the config has no
            ``default_scope``. Defaults to ``'mmseg'``.
        show_progress (bool): Show a progress bar. Defaults to False.
    """

    preprocess_kwargs: set = {'prompts', 'index', 'candidates', 'num_prompts'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {'show', 'wait_time', 'draw'}
    postprocess_kwargs: set = {'out_dir', 'out_names'}

    def __init__(self,
                 model: Union[str, Config, dict],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 mask_fg_value: Optional[float] = None,
                 mask_threshold: Optional[float] = None,
                 load_from_allow: Optional[dict] = None,
                 scope: str = 'mmseg',
                 show_progress: bool = False) -> None:
        import projects.prompthub  # noqa: F401  (registers everything)
        if mask_fg_value is not None and mask_threshold is not None:
            raise ValueError('give mask_fg_value or mask_threshold, not both')
        if isinstance(model, nn.Module):
            raise TypeError(
                'PromptHubInferencer builds its model and test pipeline '
                'from a config; pass the config (path) and weights=CKPT, '
                'not a built model.')
        if isinstance(model, str):
            cfg = Config.fromfile(model)
        elif isinstance(model, Config):
            cfg = copy.deepcopy(model)
        else:
            cfg = Config(copy.deepcopy(dict(model)))
        resolve_config_references(cfg)
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        scope = cfg.get('default_scope', scope)
        init_default_scope(scope)
        self.mask_fg_value = mask_fg_value
        self.mask_threshold = mask_threshold
        self.load_from_allow = (
            cfg.get(ALLOW_KEY) if load_from_allow is None else load_from_allow)
        super().__init__(
            model=cfg,
            weights=weights,
            device=device,
            scope=scope,
            show_progress=show_progress)
        self.device = next(self.model.parameters()).device

    # -- construction ----------------------------------------------------
    def _init_model(self,
                    cfg: Config,
                    weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        """Build the model and load ``weights`` exactly (strict loader)."""
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        if weights:
            load_model_checkpoint(model, weights, allow=self.load_from_allow)
        else:
            print_log(
                'PromptHubInferencer: no weights given; only the weights the '
                'config loads itself (e.g. a backbone checkpoint) are set, '
                'the rest (e.g. a fusion neck) is random. Pass weights=CKPT '
                '(tools/infer.py --weights).',
                logger='current',
                level=logging.WARNING)
        model.to(device)
        model.eval()
        return model

    def _init_collate(self, cfg: Config) -> Callable:
        """The test dataloader's ``collate_fn``, as the runner builds it
        (``pseudo_collate`` by default)."""
        collate = copy.deepcopy(
            dict((cfg.get('test_dataloader')
                  or {}).get('collate_fn', dict(type='pseudo_collate'))))
        kind = collate.pop('type')
        if isinstance(kind, str):
            kind = FUNCTIONS.get(kind)
        return functools.partial(kind, **collate)

    def _init_visualizer(self, cfg: Config):
        """The config's visualizer, without its storage backends: the
        inferencer writes its own files (``out_dir``), and the backends
        would need a ``save_dir``."""
        if 'visualizer' not in cfg:
            return None
        cfg.visualizer = dict(cfg.visualizer, vis_backends=None)
        return super()._init_visualizer(cfg)

    def _init_pipeline(self, cfg: Config) -> EpisodePipeline:
        """The config's test pipeline, with the inference loader."""
        test_set = (cfg.get('test_dataloader') or {}).get('dataset') or {}
        episode = Compose(
            list(test_set.get('pipeline') or [dict(type='PackVICLInputs')]))
        for transform in episode.transforms:
            if hasattr(transform, 'get_indexes'):
                raise ValueError(
                    'the pipeline of test_dataloader.dataset holds '
                    f'{type(transform).__name__}, which draws prompts from '
                    'a dataset; remove it from the test pipeline to infer.')
        query_loads = _loading_pipeline(test_set.get('dataset'))
        prompt_loads = _loading_pipeline(
            test_set.get('prompt_dataset')) or query_loads
        if query_loads is None and _mentions(
                cfg.get('test_dataloader'), DATASET_LOADER):
            raise ValueError(
                f'test_dataloader uses {DATASET_LOADER}, but not in the '
                'pipeline of test_dataloader.dataset.dataset (or of the '
                'datasets it wraps through `dataset`), so which settings '
                'load the queries is unclear; put the loader there, as '
                'configs/_base_/datasets/pascal5i.py does.')
        if query_loads is None:
            size = cell_size(self.model.backbone.img_size)
            query_loads = prompt_loads = [
                dict(type=DATASET_LOADER, task='segmentation', size=size)
            ]
            print_log(
                'PromptHubInferencer: the config\'s test data have no '
                f'{DATASET_LOADER} (rendered in memory); user images are '
                f'loaded with {INFERENCE_LOADER}(task=\'segmentation\', '
                f'size={size}) (PIL bicubic, as the file datasets).',
                logger='current')
        return EpisodePipeline(
            Compose(_inference_loaders(query_loads)),
            Compose(_inference_loaders(prompt_loads)), episode)

    # -- the call --------------------------------------------------------
    def __call__(self,
                 inputs: Union[ImageLike, Sequence[ImageLike]],
                 prompts: Optional[Sequence[Prompt]] = None,
                 index=None,
                 candidates: Union[None, str, Dict[str, Prompt]] = None,
                 num_prompts: Optional[int] = None,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 show: bool = False,
                 wait_time: float = 0,
                 out_dir: Optional[str] = None,
                 return_vis: bool = False) -> dict:
        """Predict a mask per query.

        Args:
            inputs: A query image (path or RGB array), a list of them, or
                a folder (its files, sorted by name).
            prompts: ``(image, mask)`` or ``(image, mask, mask_fg_value)``
                pairs (paths or arrays) shared by every query.
            index: Instead of ``prompts``: a retrieval index (a
                :class:`RetrievalIndex`, its ``.npz`` or a reference
                ``.json`` file, or ``{query_name: [names]}``) that gives
                each query, named by its file stem, its prompts by name.
            candidates: With ``index``: name -> prompt pair, or a JSON file
                of them (see :func:`load_candidates`).
            num_prompts (int, optional): Prompts taken from the index.
                Defaults to the config's
                ``test_dataloader.dataset.num_prompts``.
            return_datasamples (bool): Return the model's
                ``SegDataSample``s as predictions (with ``pair_inputs``,
                the uint8 pairs the model saw, and ``mask_path`` /
                ``vis_path`` in their metainfo). Defaults to False.
            batch_size (int): Queries per forward pass. Defaults to 1.
            show (bool): Show each grid in a window. Defaults to False.
            wait_time (float): Seconds each shown grid stays up (0: until
                a key is pressed). Defaults to 0.
            out_dir (str, optional): Write ``{name}_mask.png`` (0/255 at
                the query's size) and ``{name}_vis.png`` (prompts, fused
                prompt, prediction); ``name`` is the file stem, or
                ``{stem}_{i}`` (``i`` the query's position) when stems
                repeat (see :func:`output_stems`). Each file is written
                atomically; a failed write raises naming it.
            return_vis (bool): Return the grids. Defaults to False.

        Returns:
            dict: ``predictions``: per query, in input order, a dict with
            ``mask`` (bool, the query's H x W: the predicted cell resized
            nearest-neighbour), ``pred_label_img`` (uint8
            S x S x 3, the predicted cell), ``mask_path``, ``vis_path``
            (None without ``out_dir``) and both as ``paths``; or the data
            samples (``return_datasamples``). ``visualization``: the grids
            (RGB arrays) when ``show``, ``out_dir`` or ``return_vis``,
            else ``[]``.
        """
        inputs = self._inputs_to_list(inputs)
        return super().__call__(
            inputs,
            return_datasamples=return_datasamples,
            batch_size=batch_size,
            prompts=prompts,
            index=index,
            candidates=candidates,
            num_prompts=num_prompts,
            show=show,
            wait_time=wait_time,
            draw=bool(show or out_dir or return_vis),
            out_dir=out_dir or '',
            out_names=output_stems(inputs))

    @staticmethod
    def list_inputs(inputs) -> list:
        """The queries of ``inputs``: one image, or a list of them, where
        a folder stands for its files in name order (mmengine lists them
        unordered)."""
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        queries = []
        for item in inputs:
            if isinstance(item, str) and isdir(item):
                queries.extend(
                    osp.join(item, name)
                    for name in sorted(list_dir_or_file(item, list_dir=False)))
            else:
                queries.append(item)
        return queries

    def _inputs_to_list(self, inputs) -> list:
        return self.list_inputs(inputs)

    def preprocess(self,
                   inputs: list,
                   batch_size: int = 1,
                   prompts: Optional[Sequence[Prompt]] = None,
                   index=None,
                   candidates=None,
                   num_prompts: Optional[int] = None) -> Iterator[dict]:
        """Episodes -> test pipeline -> batches (checked before any
        forward pass)."""
        if (prompts is None) == (index is None):
            raise ValueError('give prompts, or index + candidates (not '
                             'both)')
        if prompts is not None and (candidates is not None
                                    or num_prompts is not None):
            raise ValueError('candidates and num_prompts go with index; '
                             'with prompts, every query gets those prompts.')
        if prompts is None:
            if candidates is None:
                raise ValueError('index needs candidates: the (image, mask) '
                                 'of every name it may return.')
            index = _as_index(index)
            if isinstance(candidates, str):
                candidates = load_candidates(candidates)
            num_prompts = num_prompts or self._config_num_prompts()
        episodes = []
        for n, query in enumerate(inputs):
            pairs = prompts
            if pairs is None:
                stem = osp.splitext(osp.basename(query))[0] if isinstance(
                    query, str) else f'query_{n}'
                pairs = self.prompts_from_index(stem, index, candidates,
                                                num_prompts)
            episodes.append(self.episode(query, pairs, n))
        chunks = self._get_chunk_data(map(self.pipeline, episodes), batch_size)
        return map(self.collate_fn, chunks)

    def _config_num_prompts(self) -> int:
        """The test set's ``num_prompts`` (else the preprocessor's)."""
        test_set = (self.cfg.get('test_dataloader') or {}).get('dataset')
        for value in ((test_set or {}).get('num_prompts'),
                      self.cfg.model.get('data_preprocessor',
                                         {}).get('num_prompts')):
            if value is not None:
                return int(value)
        raise ValueError('the config sets no num_prompts; give num_prompts '
                         '(tools/infer.py --num-prompts).')

    def episode(self,
                query: ImageLike,
                prompts: Sequence[Prompt],
                position: int = 0) -> dict:
        """The dataset-style records of one query and its prompts.

        Args:
            query: Image path or RGB array.
            prompts: ``(image, mask)`` or ``(image, mask, mask_fg_value)``.
            position (int): The query's position (``sample_idx``).

        Returns:
            dict: ``query`` and ``prompts`` records of
            :class:`LoadVICLInferencePair`.
        """
        if not prompts:
            raise ValueError('give at least one prompt pair (image, mask)')
        records = []
        for k, prompt in enumerate(prompts):
            if not isinstance(prompt,
                              (tuple, list)) or len(prompt) not in (2, 3):
                raise ValueError(
                    f'prompt {k} must be (image, mask) or (image, mask, '
                    f'mask_fg_value), got {prompt!r:.80}.')
            fg_value = prompt[2] if len(prompt) == 3 else self.mask_fg_value
            records.append(
                _record(prompt[0], f'prompt {k}', prompt[1], fg_value,
                        None if len(prompt) == 3 else self.mask_threshold))
        query_record = _record(query, 'query')
        query_record['sample_idx'] = position
        return dict(query=query_record, prompts=records)

    def pack(self, query: ImageLike, prompts: Sequence[Prompt]) -> dict:
        """What the model gets for one query: ``inputs`` (uint8
        [K+1, 2, 3, S, S]) and ``data_samples``, from the test pipeline."""
        return self.pipeline(self.episode(query, prompts))

    def prompts_from_index(self, query_name: str, index,
                           candidates: Dict[str, Prompt],
                           num_prompts: int) -> List[Prompt]:
        """Prompt pairs of ``query_name`` from a retrieval index.

        Args:
            query_name (str): Key of the query in ``index``.
            index: A :class:`RetrievalIndex` (or anything with
                ``neighbours(name, k)``).
            candidates (dict): Candidate name -> prompt pair.
            num_prompts (int): K.
        """
        try:
            names = index.neighbours(query_name, num_prompts)
        except KeyError as e:
            raise KeyError(
                f'{e.args[0] if e.args else query_name!r}; queries are '
                'looked up by file stem: build the index for these query '
                'images (tools/misc/build_retrieval_index.py) or give prompts '
                'with --prompt.') from None
        missing = [n for n in names if n not in candidates]
        if missing:
            raise KeyError(f'retrieved prompts {missing} of query '
                           f'{query_name!r} have no (image, mask) entry in '
                           'candidates; add them to the candidates file.')
        return [candidates[n] for n in names]

    @contextlib.contextmanager
    def _any_prompt_count(self) -> Iterator[None]:
        """Lift the preprocessor's ``num_prompts`` check meanwhile.

        It guards training batches against a dataset/model mismatch; at
        inference any number of prompts is valid (the fusion neck is
        N-agnostic).
        """
        pre = self.model.data_preprocessor
        expected = getattr(pre, 'num_prompts', None)
        if expected is not None:
            pre.num_prompts = None
        try:
            yield
        finally:
            if expected is not None:
                pre.num_prompts = expected

    @torch.no_grad()
    def forward(self, inputs: dict, **kwargs) -> List[SegDataSample]:
        """``model.test_step`` (as in ``tools/test.py``); each sample also
        keeps the pairs the model saw as ``pair_inputs`` (and
        ``feature_pair_inputs`` with the reference feature inputs)."""
        with self._any_prompt_count():
            preds = self.model.test_step(inputs)
        features = inputs.get('feature_pairs')
        for i, pred in enumerate(preds):
            pred.pair_inputs = inputs['inputs'][i]
            if features is not None:
                pred.feature_pair_inputs = features[i]
        return preds

    # -- outputs ---------------------------------------------------------
    def visualize(self,
                  inputs: list,
                  preds: List[SegDataSample],
                  show: bool = False,
                  wait_time: float = 0,
                  draw: bool = False) -> Optional[List[np.ndarray]]:
        """The grid of every query (None unless ``draw``)."""
        if not draw:
            return None
        grids = []
        for n, pred in enumerate(preds):
            grid = self.draw_episode(pred)
            if show:
                mmcv.imshow(grid[..., ::-1], f'query {n}', int(wait_time))
            grids.append(grid)
        return grids

    def draw_episode(self, pred: SegDataSample) -> np.ndarray:
        """One episode as an RGB grid: prompts, fused prompt, prediction.

        The one place the inferencer draws (the visualizer of the configs
        can take over here).
        """
        data = self._model_inputs(pred)
        pairs = data['inputs']
        fused = fused_prompt_cells(
            self.model, pairs, feature_pairs=data.get('feature_pairs'))
        return draw_vicl_grid([(pairs[0, k, 0], pairs[0, k, 1])
                               for k in range(1, pairs.shape[1])],
                              pairs[0, 0, 0], pred.pred_label_img.data, None,
                              None if fused is None else (fused[0,
                                                                0], fused[0,
                                                                          1]))

    @torch.no_grad()
    def _model_inputs(self, pred: SegDataSample) -> dict:
        """The preprocessed model input of one predicted sample:
        ``inputs`` and, with the reference features, ``feature_pairs``."""
        data = dict(inputs=[pred.pair_inputs])
        if 'feature_pair_inputs' in pred:
            data['feature_pairs'] = [pred.feature_pair_inputs]
        with self._any_prompt_count():
            return self.model.data_preprocessor(data, False)

    def postprocess(self,
                    preds: List[SegDataSample],
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    out_dir: str = '',
                    out_names: Optional[List[str]] = None) -> dict:
        """Masks at the query's size; files written atomically."""
        if out_names is None:
            out_names = output_stems([None] * len(preds))
        predictions = []
        for n, pred in enumerate(preds):
            if 'ori_shape' not in pred.metainfo:
                raise KeyError("the test pipeline's PackVICLInputs must keep "
                               "'ori_shape' in meta_keys (the query's size).")
            # The rule tools/test.py --out writes its masks with.
            mask = resize_mask(pred.pred_sem_seg.data[0] > 0,
                               pred.metainfo['ori_shape'])
            paths = dict(mask_path=None, vis_path=None)
            if out_dir:
                mmengine.mkdir_or_exist(out_dir)
                paths['mask_path'] = write_image(
                    osp.join(out_dir, f'{out_names[n]}_mask.png'),
                    mask.astype(np.uint8) * 255)
                if visualization is not None:
                    paths['vis_path'] = write_image(
                        osp.join(out_dir, f'{out_names[n]}_vis.png'),
                        cv2.cvtColor(visualization[n], cv2.COLOR_RGB2BGR))
            pred.set_metainfo(paths)
            if return_datasample:
                predictions.append(pred)
                continue
            predictions.append(
                dict(
                    mask=mask,
                    pred_label_img=pred.pred_label_img.data.permute(
                        1, 2, 0).cpu().numpy(),
                    paths=[p for p in paths.values() if p],
                    **paths))
        return dict(predictions=predictions, visualization=visualization or [])


def _type_name(transform) -> str:
    kind = transform.get('type') if isinstance(transform, dict) else \
        type(transform)
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '?')


def _mentions(node, type_name: str) -> bool:
    """Whether a config node holds a transform of ``type_name``."""
    if isinstance(node, (dict, ConfigDict)):
        return _type_name(node) == type_name or any(
            _mentions(v, type_name) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_mentions(v, type_name) for v in node)
    return False


def _loading_pipeline(dataset_cfg) -> Optional[list]:
    """The pipeline holding ``LoadVICLPair`` of a (wrapped) dataset config.

    Follows ``dataset`` down wrappers such as ``HoldoutSubset``.
    """
    while isinstance(dataset_cfg, (dict, ConfigDict)):
        pipeline = dataset_cfg.get('pipeline') or []
        if any(_type_name(t) == DATASET_LOADER for t in pipeline):
            return list(pipeline)
        dataset_cfg = dataset_cfg.get('dataset')
    return None


def _inference_loaders(pipeline: list) -> list:
    """``pipeline`` with each ``LoadVICLPair`` swapped for the inference
    loader of the same settings."""
    swapped = []
    for transform in pipeline:
        if _type_name(transform) == DATASET_LOADER:
            transform = {
                k: v
                for k, v in copy.deepcopy(dict(transform)).items()
                if k not in _DATASET_ONLY
            }
            transform['type'] = INFERENCE_LOADER
        swapped.append(transform)
    return swapped


def _record(img: ImageLike,
            input_name: str,
            mask: Optional[ImageLike] = None,
            fg_value: Optional[float] = None,
            threshold: Optional[float] = None) -> dict:
    """A dataset-style record of a user's image (and prompt mask)."""
    record = dict(input_name=input_name)
    if isinstance(img, str):
        record.update(
            img_path=img, sample_name=osp.splitext(osp.basename(img))[0])
    else:
        record['img'] = np.asarray(img)
    if mask is not None:
        record['seg_map_path' if isinstance(mask, str) else 'seg_map'] = mask
        record['seg_fg_value'] = fg_value
        record['seg_threshold'] = threshold
    return record


def _as_index(index):
    """A retrieval index from a file, a dict of name lists or an index."""
    if isinstance(index, dict):
        return _NameLists(index)
    if isinstance(index, str):
        from projects.prompthub.retrieval.index import RetrievalIndex
        if index.endswith('.json'):
            return RetrievalIndex.from_reference_json(index)
        return RetrievalIndex.load(index)
    return index
