"""Pack a query pair and its prompts into model inputs."""
from typing import List, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from projects.prompthub.registry import TRANSFORMS
from projects.prompthub.structures import reference_round_trip

# Meta keys computed from ``prompt_results`` rather than read directly.
_PROMPT_META = {
    'prompt_paths': 'img_path',
    'prompt_label_paths': 'label_path',
    'prompt_seg_map_paths': 'seg_map_path',
    'prompt_names': 'sample_name',
    'prompt_class_ids': 'class_id',
}


@TRANSFORMS.register_module()
class PackVICLInputs(BaseTransform):
    """Pack a VICL sample: ``inputs`` [K+1, 2, 3, S, S] and a data sample.

    ``inputs`` is a uint8 tensor; index 0 is the query pair (image,
    label image) and 1..K are the prompt pairs of
    ``results['prompt_results']`` in order. Every prompt must have the
    query's size (resize them in the loading pipeline). The
    ``SegDataSample`` gets the ground truth the model scores,
    ``gt_label_img`` (``PixelData`` uint8 [3, S, S]): the query label
    image as the reference reads it back out of its normalised canvas
    (:func:`~projects.prompthub.structures.reference_round_trip`, which
    truncates, so white may become 254); ``gt_sem_seg`` (``PixelData``
    int64 [1, S, S]) from ``gt_seg_map`` when present (the model replaces
    it by its binarisation of ``gt_label_img``); and the ``meta_keys``
    that can be found in ``results``. Besides plain result keys,
    ``prompt_paths``, ``prompt_label_paths``, ``prompt_seg_map_paths``,
    ``prompt_names`` and ``prompt_class_ids`` are collected from the
    prompts (when every prompt has the key).

    Args:
        meta_keys (Sequence[str]): Metainfo keys. Defaults to
            ``('img_path', 'label_path', 'seg_map_path', 'sample_name',
            'sample_idx', 'class_id', 'ori_shape', 'img_shape',
            'prompt_paths', 'prompt_names', 'prompt_class_ids',
            'prompt_indices', 'prompt_replacement')``.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('img_path', 'label_path', 'seg_map_path',
                                    'sample_name', 'sample_idx', 'class_id',
                                    'ori_shape', 'img_shape', 'prompt_paths',
                                    'prompt_names', 'prompt_class_ids',
                                    'prompt_indices', 'prompt_replacement')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _check_pair(img: np.ndarray, label: np.ndarray, what: str) -> None:
        for name, arr in (('img', img), ('label_img', label)):
            if not (isinstance(arr, np.ndarray) and arr.ndim == 3
                    and arr.shape[2] == 3 and arr.dtype == np.uint8):
                desc = (f'{arr.dtype} array of shape {arr.shape}'
                        if isinstance(arr, np.ndarray) else type(arr).__name__)
                raise ValueError(f'{what} {name} must be an HxWx3 uint8 '
                                 f'array, got {desc}.')
        if img.shape != label.shape:
            raise ValueError(f'{what} img and label_img differ in shape: '
                             f'{img.shape} vs {label.shape}.')

    def transform(self, results: dict) -> dict:
        """Pack ``results``.

        Args:
            results (dict): Query pair (``img``, ``label_img``, optional
                ``gt_seg_map``) and ``prompt_results``.

        Returns:
            dict: ``inputs`` (uint8 tensor [K+1, 2, 3, S, S]),
            ``data_samples`` (``SegDataSample``) and, when the loader
            produced the reference fusion inputs, ``feature_pairs``
            (float32 [K+1, 2, 3, S, S]).
        """
        query_shape = results['img'].shape
        self._check_pair(results['img'], results['label_img'], 'Query')
        pairs: List[np.ndarray] = [
            np.stack([results['img'], results['label_img']])
        ]
        prompts = results.get('prompt_results', [])
        for k, prompt in enumerate(prompts):
            what = f"Prompt {k} ({prompt.get('img_path', '?')})"
            self._check_pair(prompt['img'], prompt['label_img'], what)
            if prompt['img'].shape != query_shape:
                raise ValueError(
                    f"{what} has shape {prompt['img'].shape} but the query "
                    f'has {query_shape}; resize every pair to the cell size '
                    'in the loading pipeline.')
            pairs.append(np.stack([prompt['img'], prompt['label_img']]))
        # [K+1, 2, H, W, 3] -> [K+1, 2, 3, H, W]
        inputs = torch.from_numpy(np.stack(pairs)).permute(0, 1, 4, 2, 3)

        data_sample = SegDataSample()
        data_sample.gt_label_img = PixelData(
            data=reference_round_trip(inputs[0, 1]))
        if 'gt_seg_map' in results:
            gt = np.asarray(results['gt_seg_map'])
            if gt.shape != query_shape[:2]:
                raise ValueError(f'gt_seg_map has shape {gt.shape}, '
                                 f'expected {query_shape[:2]}.')
            data_sample.gt_sem_seg = PixelData(
                data=torch.from_numpy(gt[None].astype(np.int64)))
        metainfo = {}
        for key in self.meta_keys:
            if key in _PROMPT_META:
                src = _PROMPT_META[key]
                if all(src in p for p in prompts):
                    metainfo[key] = [p[src] for p in prompts]
            elif key in results:
                metainfo[key] = results[key]
        data_sample.set_metainfo(metainfo)
        packed = dict(inputs=inputs.contiguous(), data_samples=data_sample)
        features = self._feature_pairs(results, prompts)
        if features is not None:
            packed['feature_pairs'] = features.contiguous()
        return packed

    @staticmethod
    def _feature_pairs(results: dict, prompts: list):
        """float32 [K+1, 2, 3, S, S] of the reference feature inputs, if any.

        ``LoadVICLPair(reference_features=True)`` adds ``feat_img`` and
        ``feat_label_img``; they must then exist for every pair.
        """
        items = [results] + list(prompts)
        have = ['feat_img' in item for item in items]
        if not any(have):
            return None
        if not all(have):
            raise ValueError(
                'reference feature inputs (feat_img) exist for some pairs '
                'only; '
                'load the query and every prompt with the same '
                'LoadVICLPair(reference_features=...) setting.')
        feats = np.stack([
            np.stack([item['feat_img'], item['feat_label_img']])
            for item in items
        ]).astype(np.float32)
        return torch.from_numpy(feats).permute(0, 1, 4, 2, 3)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
