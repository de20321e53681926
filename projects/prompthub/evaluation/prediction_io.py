"""Per-query prediction files of ``tools/test.py --out``.

The VICL metrics score cells of the canvas (``S x S``, 111 for the
reference canvas); a user wants each query's prediction over the query
image itself. :class:`PredictionWriter` resizes what a metric scored to
the query's ``ori_shape``, writes it as a PNG named after the sample
(:func:`sample_stem`) and, once the metric is computed, writes the
per-image scores next to it as JSON. Every file is written atomically
(:func:`~projects.prompthub.utils.atomic_io.atomic_write`), so a killed
run leaves no truncated file, and any failure raises.
"""
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from PIL import Image

from projects.prompthub.utils.atomic_io import atomic_write

#: File of the per-image scores under the output folder.
SCORES_FILE = 'scores.json'
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def _meta(sample, key: str, default=None):
    """A metainfo value of a data sample given as dict or data element."""
    if isinstance(sample, dict):
        return sample.get(key, default)
    return sample.metainfo.get(key, default)


def sample_stem(sample) -> str:
    """A file stem naming one evaluated sample uniquely in its dataset.

    ``{sample_idx:05d}_{sample_name}`` plus ``_c{class_id}`` when the
    record has a class: a query image appears once per class in
    Pascal-5i, so the name alone is not unique, the dataset index is.
    Without ``sample_name`` the stem of ``img_path`` is used. Characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``_``.

    Args:
        sample (dict | SegDataSample): An evaluated data sample.

    Returns:
        str: The stem.

    Raises:
        KeyError: The sample has no ``sample_idx`` (every mmengine
            ``BaseDataset`` record has one).
    """
    idx = _meta(sample, 'sample_idx')
    if idx is None:
        raise KeyError(
            'data sample has no sample_idx, so its prediction file cannot '
            'be named uniquely; keep sample_idx in PackVICLInputs.meta_keys '
            '(it is there by default).')
    name = _meta(sample, 'sample_name')
    if name is None:
        path = _meta(sample, 'img_path')
        name = osp.splitext(osp.basename(str(path)))[0] if path else ''
    stem = f'{int(idx):05d}'
    if name:
        stem += '_' + _UNSAFE.sub('_', str(name)).strip('_')
    class_id = _meta(sample, 'class_id')
    if class_id is not None:
        stem += f'_c{class_id}'
    return stem


def _ori_shape(sample) -> tuple:
    shape = _meta(sample, 'ori_shape')
    if shape is None or len(shape) < 2:
        raise KeyError(
            f'data sample {sample_stem(sample)} has no ori_shape (got '
            f'{shape!r}), so its prediction cannot be written at the '
            "query's original size; keep ori_shape in "
            'PackVICLInputs.meta_keys (it is there by default).')
    return int(shape[0]), int(shape[1])


def check_evaluated_once(keys: Sequence, target: str) -> None:
    """Refuse results that hold a sample twice (gathered across ranks).

    Args:
        keys (Sequence): One key per result (name or ``sample_idx``).
        target (str): What would be written, for the message.

    Raises:
        ValueError: Naming the repeated keys.
    """
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(
            f'samples {dup[:5]} were evaluated more than once across ranks; '
            f'{target} cannot tell them apart. Give every record its own '
            'sample_idx.')


def resize_mask(mask, shape: Sequence[int]) -> np.ndarray:
    """A binary mask at ``shape`` (H, W), nearest neighbour.

    Args:
        mask (np.ndarray | Tensor): HxW, bool or {0, 1}.
        shape (Sequence[int]): Target (H, W).

    Returns:
        np.ndarray: bool HxW.
    """
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask).astype(np.uint8)
    h, w = int(shape[0]), int(shape[1])
    if mask.shape[:2] != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return mask > 0


def resize_image(img, shape: Sequence[int]) -> np.ndarray:
    """An RGB uint8 image at ``shape`` (H, W), PIL bicubic (the filter the
    loading pipeline shrinks colourisation queries with).

    Args:
        img (np.ndarray | Tensor): uint8 (3, H, W) or (H, W, 3).
        shape (Sequence[int]): Target (H, W).

    Returns:
        np.ndarray: uint8 HxWx3.
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu().numpy()
    img = np.asarray(img, dtype=np.uint8)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    h, w = int(shape[0]), int(shape[1])
    if img.shape[:2] != (h, w):
        img = np.asarray(
            Image.fromarray(np.ascontiguousarray(img)).resize((w, h),
                                                              Image.BICUBIC))
    return np.ascontiguousarray(img)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HxW (grey) or HxWx3 (RGB) image."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode('.png', img)
    if not ok:
        raise RuntimeError(f'could not encode a {img.shape} {img.dtype} '
                           'image as PNG')
    return buf.tobytes()


class PredictionWriter:
    """Write a metric's per-query predictions and per-image scores.

    :meth:`write` (called from ``process``, on every rank) writes
    ``{output_dir}/{stem}.png`` at the query's ``ori_shape`` and returns
    the record that travels with the metric's results;
    :meth:`write_scores` (called from ``compute_metrics``, main process
    only) writes ``{output_dir}/scores.json`` from the gathered records.
    Two samples with one stem raise instead of overwriting each other.

    Args:
        output_dir (str): The folder (created on first write).
        kind (str): ``'mask'`` (bool HxW, written 0/255, resized nearest)
            or ``'image'`` (RGB, resized bicubic).
    """

    KINDS = ('mask', 'image')

    def __init__(self, output_dir: str, kind: str = 'mask') -> None:
        if not isinstance(output_dir, str) or not output_dir:
            raise ValueError(f'output_dir must be a folder path, got '
                             f'{output_dir!r}')
        if kind not in self.KINDS:
            raise ValueError(f'kind must be one of {self.KINDS}, got '
                             f'{kind!r}')
        self.output_dir = output_dir
        self.kind = kind
        self._written: Dict[str, Optional[str]] = {}

    def reset(self) -> None:
        """Forget the stems written (a new evaluation starts)."""
        self._written.clear()

    def write(self, sample, prediction) -> dict:
        """Write one prediction at the sample's original size.

        Args:
            sample (dict | SegDataSample): The evaluated sample.
            prediction (np.ndarray | Tensor): What the metric scored: a
                bool HxW mask or a uint8 RGB cell.

        Returns:
            dict: ``name``, ``file`` (relative to ``output_dir``),
            ``sample_idx``, ``img_path``, ``class_id``, ``ori_shape``.
        """
        stem = sample_stem(sample)
        img_path = _meta(sample, 'img_path')
        if stem in self._written and self._written[stem] != img_path:
            raise ValueError(
                f'two evaluated samples are both named {stem!r} '
                f'({self._written[stem]!r} and {img_path!r}); their '
                f'prediction files in {self.output_dir!r} would overwrite '
                'each other. Give every record of the test dataset its own '
                'sample_idx / sample_name.')
        self._written[stem] = img_path
        shape = _ori_shape(sample)
        if self.kind == 'mask':
            out = resize_mask(prediction, shape).astype(np.uint8) * 255
        else:
            out = resize_image(prediction, shape)
        name = f'{stem}.png'
        atomic_write(osp.join(self.output_dir, name), encode_png(out))
        class_id = _meta(sample, 'class_id')
        return dict(
            name=stem,
            file=name,
            sample_idx=int(_meta(sample, 'sample_idx')),
            img_path=None if img_path is None else str(img_path),
            class_id=None if class_id is None else int(class_id),
            ori_shape=list(shape))

    def write_scores(self, records: List[dict], scores: Dict[str, list],
                     metrics: Dict[str, float], info: dict) -> str:
        """Write ``scores.json``: the run's metrics and one row per image.

        Args:
            records (list[dict]): :meth:`write`'s records of all ranks, in
                the order of the metric's results.
            scores (dict[str, list]): Per-image values, each list aligned
                with ``records`` (e.g. ``iou``).
            metrics (dict): The metric's results as logged (prefixed).
            info (dict): The metric's settings (type, mode, ...).

        Returns:
            str: The path written.
        """
        check_evaluated_once([r['name'] for r in records],
                             f'the files in {self.output_dir!r}')
        images = []
        for i, record in enumerate(records):
            row = dict(record)
            row.update({k: v[i] for k, v in scores.items()})
            images.append(row)
        doc = dict(
            metric=info,
            metrics=metrics,
            num_images=len(images),
            images=images)
        path = osp.join(self.output_dir, SCORES_FILE)
        atomic_write(path, json.dumps(doc, indent=1))
        print_log(
            f'{len(images)} predictions at the queries\' original size '
            f'written to {self.output_dir}, per-image scores to {path}',
            logger='current')
        return path


class WritesPredictionsMixin:
    """For a ``BaseMetric`` whose ``self.writer`` (a
    :class:`PredictionWriter` or None) writes each evaluation's files:
    after an evaluation the writer is reset, so the next one names its
    files anew."""

    writes_predictions = True

    def evaluate(self, size: int) -> dict:
        """Compute the metric, then reset the writer."""
        try:
            return super().evaluate(size)
        finally:
            if self.writer is not None:
                self.writer.reset()
