"""Load an (image, label image) pair at the canvas cell size."""
import hashlib
import json
import logging
import os
from typing import Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

from projects.prompthub.registry import TRANSFORMS
from projects.prompthub.structures.record_contract import missing_key_error
from projects.prompthub.utils.image_io import read_image, read_mask
from .pair_cache import PairCache

#: Record fields that select a pair (see ``LoadVICLPair.cache_key``).
_CACHE_KEY_FIELDS = ('img_path', 'seg_map_path', 'label_path', 'seg_fg_value',
                     'class_id', 'bbox', 'derive_gray')

_TASK_ALIASES = {
    'segmentation': 'segmentation',
    'seg': 'segmentation',
    'detection': 'detection',
    'det': 'detection',
    'colorization': 'colorization',
    'color': 'colorization',
    'colour': 'colorization',
}

_INTERPOLATIONS = {
    'nearest': Image.Resampling.NEAREST,
    'bilinear': Image.Resampling.BILINEAR,
    'bicubic': Image.Resampling.BICUBIC,
    'lanczos': Image.Resampling.LANCZOS,
    'box': Image.Resampling.BOX,
    'hamming': Image.Resampling.HAMMING,
}

# Reference resizes (docs/method.md, section 5): PIL bicubic for segmentation
# and colourisation, PIL bilinear for detection.
_DEFAULT_INTERPOLATION = {
    'segmentation': 'bicubic',
    'detection': 'bilinear',
    'colorization': 'bicubic',
}


def record_context(results: dict) -> str:
    """Where a record's files are listed, for messages ('' if unknown).

    Datasets that read a split file store ``split_file`` and
    ``split_line`` (1-based) in their records.
    """
    split_file = results.get('split_file')
    if not split_file:
        return ''
    line = results.get('split_line')
    return f"listed at {split_file}{'' if line is None else f':{line}'}"


def check_mask_size(mask_shape: Tuple[int, ...],
                    img: Image.Image,
                    mask_name: str,
                    img_name: str,
                    context: str = '') -> None:
    """Refuse a mask whose size is not its image's.

    Image and label are resized to the cell each on its own, so a
    mismatch would silently misplace the label.

    Args:
        mask_shape (tuple): The mask's shape, (H, W, ...).
        img (PIL.Image.Image): Its image.
        mask_name (str): How the message names the mask (with its path).
        img_name (str): How the message names the image.
        context (str): Where the paths came from ('' if unknown).

    Raises:
        ValueError: Naming both and their sizes.
    """
    if tuple(mask_shape[:2]) != (img.height, img.width):
        raise ValueError(
            f'{mask_name} is {mask_shape[1]}x{mask_shape[0]} (WxH) but its '
            f"image {img_name} is {img.width}x{img.height}"
            f"{f' ({context})' if context else ''}; a mask must have its "
            "image's size (is it the mask of another image?).")


@TRANSFORMS.register_module()
class LoadVICLPair(BaseTransform):
    """Load a VICL pair (image, label image) resized to the cell size.

    Produces the sample contract of ``docs/design.md``: ``img`` and
    ``label_img`` as HxWx3 uint8 RGB arrays at ``size``, plus
    ``gt_seg_map`` (HxW uint8 in {0, 1}) for segmentation and detection.
    Resizing uses PIL (the reference's canvas pipeline); ``antialias``
    settings only concern tensor resizes and do not apply here.

    Per task (keys read from the dataset record):

    - ``segmentation`` (Pascal-5i, COCO-20i): ``img_path`` and
      ``seg_map_path``. The label image is 255 where the mask equals
      ``seg_fg_value`` (``class_id + 1`` when absent) and 0 elsewhere
      (other classes, background and the 255 boundary band), broadcast to 3
      channels.
    - ``detection`` (VOC single object): ``img_path`` and ``bbox``
      (``[x0, y0, x1, y1]`` ints). The label image is black at the
      original image size with ``[y0:y1, x0:x1]`` white.
    - ``colorization``: ``label_path`` (colour target) and ``img_path``.
      With ``derive_gray=True`` the input is the colour image converted to
      ITU-R 601-2 luma (PIL ``'L'``) at full resolution, replicated to 3
      channels; otherwise ``img_path`` is read (a prepared gray image) and
      converted to RGB. No ``gt_seg_map``.

    With ``reference_features=True`` the pair is also prepared the way the
    reference prepared the inputs of its precomputed fusion features
    (docs/method.md,
    section 11), as float32 HxWx3 arrays in [0, 1] under ``feat_img`` and
    ``feat_label_img``: segmentation resizes with PIL bicubic to
    ``reference_feature_size`` (224), then bilinearly as a tensor to
    ``size`` without antialiasing, and draws the label of
    ``feature_fg_value`` (the image's first-listed class) when the record
    has it; colourisation resizes with PIL bilinear to 224, then bilinearly
    as a tensor; detection's features use the canvas pair itself.
    ``PackVICLInputs`` then packs them as ``feature_pairs`` and the model
    embeds those instead of the canvas pairs, which reproduces the
    reference's fusion inputs numerically.

    ``gt_seg_map`` is computed from the *resized* label image as
    ``label_img[..., 0] >= label_threshold`` (the resize blurs the 0/255
    edges; 128 splits them at the midpoint).

    Added keys: ``img``, ``label_img``, ``gt_seg_map`` (optional),
    ``ori_shape`` (original (H, W)), ``img_shape`` (resized (H, W)).

    Args:
        task (str): ``'segmentation'``, ``'detection'`` or
            ``'colorization'`` (or ``'seg'``, ``'det'``, ``'color'``).
            Defaults to ``'segmentation'``.
        size (int | tuple[int, int]): Output size, ``S`` or ``(H, W)``.
            Defaults to 111 (the canvas cell).
        interpolation (str, optional): PIL filter for both images; None
            uses the task default (bicubic for segmentation and
            colourisation, bilinear for detection).
        label_threshold (int): Threshold of ``gt_seg_map``. Defaults to
            128.
        with_gt_seg_map (bool, optional): Whether to add ``gt_seg_map``;
            None means True for segmentation and detection.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
        reference_features (bool): Also add the reference's feature inputs
            (see above). Defaults to False.
        reference_feature_size (int): Intermediate PIL size of the
            reference feature pipeline. Defaults to 224.
        cache_dir (str, optional): A :class:`PairCache` folder written by
            ``tools/misc/build_pair_cache.py``: pairs found there are read from
            it instead of decoded and resized (the same arrays); pairs not
            found (new or changed files) are read from disk with a
            warning. Defaults to None.
        cache_verify (bool, optional): Whether ``cache_dir`` must identify
            source files by content (built with ``build_pair_cache.py
            --verify``: an edit that keeps a file's size and mtime then
            misses) rather than by size and mtime. None follows the
            cache; True or False refuse a cache built the other way.
            Defaults to None.
    """

    _LEGACY_PIL = {'segmentation': 'bicubic', 'colorization': 'bilinear'}

    def __init__(self,
                 task: str = 'segmentation',
                 size: Union[int, Tuple[int, int]] = 111,
                 interpolation: Optional[str] = None,
                 label_threshold: int = 128,
                 with_gt_seg_map: Optional[bool] = None,
                 backend_args: Optional[dict] = None,
                 reference_features: bool = False,
                 reference_feature_size: int = 224,
                 cache_dir: Optional[str] = None,
                 cache_verify: Optional[bool] = None) -> None:
        if task not in _TASK_ALIASES:
            raise ValueError(f'Unknown task {task!r}; expected one of '
                             f'{sorted(set(_TASK_ALIASES.values()))}.')
        self.task = _TASK_ALIASES[task]
        if isinstance(size, int):
            size = (size, size)
        self.size = tuple(int(s) for s in size)
        if interpolation is None:
            interpolation = _DEFAULT_INTERPOLATION[self.task]
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'Unknown interpolation {interpolation!r}; '
                             f'expected one of {sorted(_INTERPOLATIONS)}.')
        self.interpolation = interpolation
        self.label_threshold = label_threshold
        if with_gt_seg_map is None:
            with_gt_seg_map = self.task != 'colorization'
        self.with_gt_seg_map = with_gt_seg_map
        self.backend_args = backend_args
        self.reference_features = reference_features
        self.reference_feature_size = reference_feature_size
        if cache_dir is not None and reference_features:
            raise ValueError(
                'LoadVICLPair: cache_dir holds resized pairs only; it cannot '
                'serve reference_features=True (set cache_dir=None).')
        self.cache = None if cache_dir is None else PairCache(
            cache_dir, self.cache_settings())
        self.cache_verify = cache_verify
        self.cache_misses = 0

    def _reference_feature_input(self, img: Image.Image) -> np.ndarray:
        """PIL resize to ``reference_feature_size``, then a tensor bilinear
        resize to ``size`` without antialiasing (reference feature
        pipeline)."""
        size = self.reference_feature_size
        img = img.convert('RGB').resize(
            (size, size), _INTERPOLATIONS[self._LEGACY_PIL[self.task]])
        x = torch.from_numpy(np.asarray(img, np.float32) / 255.0)
        x = F.interpolate(
            x.permute(2, 0, 1)[None],
            size=self.size,
            mode='bilinear',
            align_corners=False,
            antialias=False)
        return x[0].permute(1, 2, 0).numpy()

    def _resize(self, img: Image.Image) -> np.ndarray:
        height, width = self.size
        img = img.resize((width, height), _INTERPOLATIONS[self.interpolation])
        return np.asarray(img, dtype=np.uint8)

    def _load_segmentation(self, results: dict) -> tuple:
        context = record_context(results)
        img = read_image(results['img_path'], 'Image', self.backend_args,
                         context)
        mask = read_mask(results['seg_map_path'], 'Segmentation mask',
                         self.backend_args, context)
        check_mask_size(mask.shape, img,
                        f"Segmentation mask {results['seg_map_path']!r}",
                        repr(results['img_path']), context)
        fg_value = results.get('seg_fg_value')
        if fg_value is None:
            if 'class_id' not in results:
                raise missing_key_error('seg_fg_value', results,
                                        results.get('sample_idx'), None,
                                        "LoadVICLPair(task='segmentation')")
            fg_value = results['class_id'] + 1
        if self.reference_features:
            feature_fg = results.get('feature_fg_value', fg_value)
            self._feature_label = Image.fromarray(
                np.where(mask == feature_fg, 255, 0).astype(np.uint8))
        label = Image.fromarray(
            np.where(mask == fg_value, 255, 0).astype(np.uint8))
        return img, label

    def _load_detection(self, results: dict) -> tuple:
        img = read_image(results['img_path'], 'Image', self.backend_args,
                         record_context(results))
        x0, y0, x1, y1 = (int(v) for v in results['bbox'])
        label = np.zeros((img.height, img.width), dtype=np.uint8)
        # Slices clip at the far border like the reference's; VOC corners
        # are 1-based, so starts are never negative.
        label[max(y0, 0):y1, max(x0, 0):x1] = 255
        return img, Image.fromarray(label)

    def _load_colorization(self, results: dict) -> tuple:
        context = record_context(results)
        label_path = results.get('label_path', results['img_path'])
        color = read_image(label_path, 'Colour image', self.backend_args,
                           context)
        if results.get('derive_gray', False):
            gray = color.convert('L').convert('RGB')
        else:
            gray = read_image(results['img_path'], 'Grayscale image',
                              self.backend_args, context)
        return gray, color

    def load_resized(
            self,
            results: dict) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
        """Decode and resize one pair (no cache).

        Adds the reference feature inputs to ``results`` when they are on.

        Returns:
            tuple: image and label, uint8 [H, W, 3] at ``size``, and the
            original (H, W).
        """
        load = getattr(self, f'_load_{self.task}')
        self._feature_label = None
        img, label = load(results)
        if self.reference_features and self.task != 'detection':
            results['feat_img'] = self._reference_feature_input(img)
            results['feat_label_img'] = self._reference_feature_input(
                self._feature_label or label)
        ori_shape = (img.height, img.width)
        img = self._resize(img)
        label = self._resize(label)
        if label.ndim == 2:
            label = np.repeat(label[..., None], 3, axis=2)
        return img, label, ori_shape

    def cache_settings(self) -> dict:
        """What the resized pairs depend on besides the record."""
        return dict(
            task=self.task,
            size=list(self.size),
            interpolation=self.interpolation)

    @staticmethod
    def cache_key(results: dict,
                  verify: bool = False,
                  backend_args: Optional[dict] = None) -> str:
        """Key of a record's pair in a :class:`PairCache`.

        The record's paths and values that select the pair, plus the size
        and modification time of each local source file, so an edited
        image misses instead of returning stale pixels. With ``verify``
        each source file's size and content hash instead (it reads the
        files, through ``backend_args``): an edit that keeps the size and
        the mtime misses too.
        """
        fields = {k: results.get(k) for k in _CACHE_KEY_FIELDS}
        if fields['bbox'] is not None:
            fields['bbox'] = [float(v) for v in fields['bbox']]
        stats = []
        for name in ('img_path', 'seg_map_path', 'label_path'):
            path = results.get(name)
            if verify and path:
                try:
                    data = fileio.get(path, backend_args=backend_args)
                except FileNotFoundError:
                    continue  # the load names the missing file
                stats.append(
                    [name, len(data),
                     hashlib.blake2b(data).hexdigest()])
                continue
            try:  # one system call; remote or absent paths have no stat
                st = os.stat(path) if path else None
            except OSError:
                st = None
            if st is not None:
                stats.append([name, st.st_size, st.st_mtime_ns])
        text = json.dumps([fields, stats], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()

    def _cache_verifies(self) -> bool:
        """Whether the cache's keys hash content (checked against
        ``cache_verify``)."""
        verifies = self.cache.key_kind == 'content'
        if self.cache_verify is not None and self.cache_verify != verifies:
            how = ('by content (built with --verify)'
                   if verifies else 'by size and mtime')
            raise ValueError(
                f'LoadVICLPair(cache_verify={self.cache_verify}): the pair '
                f'cache {self.cache.directory!r} identifies source files '
                f'{how}; rebuild it with '
                '`python tools/misc/build_pair_cache.py '
                f'CONFIG --out {self.cache.directory}'
                f"{' --verify' if self.cache_verify else ''}` or set "
                'cache_verify=None.')
        return verifies

    def _cached(self, results: dict) -> Optional[tuple]:
        if self.cache is None:
            return None
        key = self.cache_key(results, self._cache_verifies(),
                             self.backend_args)
        hit = self.cache.get(key)
        if hit is None:
            self.cache_misses += 1
            if self.cache_misses == 1:
                print_log(
                    f"{results.get('img_path')!r} is not in the pair cache "
                    f'{self.cache.directory!r} (new or changed since it was '
                    'built); pairs that miss are read from disk. Rebuild '
                    'it with tools/misc/build_pair_cache.py to read them all '
                    'from the cache.',
                    logger='current',
                    level=logging.WARNING)
        return hit

    def transform(self, results: dict) -> dict:
        """Load, resize and binarise one pair.

        Args:
            results (dict): A dataset record.

        Returns:
            dict: ``results`` with the added keys.
        """
        img, label, ori_shape = self._cached(results) or \
            self.load_resized(results)
        results['ori_shape'] = tuple(ori_shape)
        results['img'] = np.ascontiguousarray(img)
        results['label_img'] = np.ascontiguousarray(label)
        results['img_shape'] = img.shape[:2]
        if self.with_gt_seg_map:
            results['gt_seg_map'] = (label[..., 0]
                                     >= self.label_threshold).astype(np.uint8)
        if self.reference_features and self.task == 'detection':
            results['feat_img'] = img.astype(np.float32) / 255.0
            results['feat_label_img'] = label.astype(np.float32) / 255.0
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(task={self.task!r}, '
                f'size={self.size}, interpolation={self.interpolation!r}, '
                f'label_threshold={self.label_threshold}, '
                f'with_gt_seg_map={self.with_gt_seg_map}, '
                f'backend_args={self.backend_args}, '
                f'reference_features={self.reference_features}, '
                f"cache_dir={getattr(self.cache, 'directory', None)!r}, "
                f'cache_verify={self.cache_verify})')
