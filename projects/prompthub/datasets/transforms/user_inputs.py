"""Rules for images and prompt masks that users give as files or arrays.

The datasets know their mask format (``seg_fg_value`` of a label-id mask);
a user's prompt mask can be 0/1, 0/255, a label id, a palette PNG or a
soft mask. :func:`mask_foreground` reads all of them with one rule, for
files and arrays alike, and refuses what it cannot read unambiguously,
naming the mask and the fix. Files are read by the strict reader of
:mod:`projects.prompthub.utils.image_io`, like every dataset image.
"""
import warnings
from typing import Optional, Union

import numpy as np

from projects.prompthub.utils.image_io import open_image

ImageLike = Union[str, np.ndarray]

#: mmseg's ``ignore_index``: in a label-id mask it marks the void band.
IGNORE_VALUE = 255

MASK_FIX = ('Save the mask as a single-channel PNG with 0 for background '
            'and one foreground value (0/1 or 0/255), or choose the '
            'foreground with mask_fg_value (a label id, CLI '
            '--mask-fg-value) or mask_threshold (a soft or JPEG mask, CLI '
            '--mask-threshold).')


def rgb_array(arr: np.ndarray, what: str = 'image') -> np.ndarray:
    """Check an in-memory RGB image: HxW or HxWx3, integers in 0..255.

    Returns:
        np.ndarray: HxWx3 uint8 (a gray HxW image is repeated).

    Raises:
        ValueError: Another shape, or values that are not 0..255 integers
            (a [0, 1] float image would turn black).
    """
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise ValueError(f'{what} array must be HxW or HxWx3 RGB, got '
                         f'shape {arr.shape}.')
    if arr.dtype != np.uint8:
        if arr.dtype == bool or not (np.isfinite(arr).all() and
                                     (arr == np.round(arr)).all()
                                     and arr.min() >= 0 and arr.max() <= 255):
            raise ValueError(
                f'{what} array of dtype {arr.dtype} is not 0..255 integer '
                'RGB (a [0, 1] float image would turn black); give uint8 '
                'RGB, e.g. (img * 255).round().astype(np.uint8).')
    return arr.astype(np.uint8)


def read_mask_values(path: str,
                     what: str = 'prompt mask',
                     backend_args: Optional[dict] = None) -> np.ndarray:
    """The stored values of a mask file (label ids, not colours).

    Read with PIL through the strict reader, like the datasets read
    masks: a palette PNG gives its label ids (OpenCV would give the
    palette colours' grey levels), a 16-bit PNG its 16-bit values, a 1-bit
    PNG booleans; colour masks keep their channels.

    Raises:
        FileNotFoundError: The file does not exist.
        BadImageError: The file is empty, truncated, corrupt or not an
            image.
    """
    img = open_image(path, what, backend_args)
    if img.mode in ('CMYK', 'YCbCr', 'LAB', 'HSV'):
        img = img.convert('RGB')
    return np.asarray(img)


def mask_foreground(mask: ImageLike,
                    name: Optional[str] = None,
                    fg_value: Optional[float] = None,
                    threshold: Optional[float] = None,
                    backend_args: Optional[dict] = None) -> np.ndarray:
    """HxW bool foreground of a prompt mask, one rule for files and arrays.

    A path is read by :func:`read_mask_values` (stored values); an array
    is taken as is. Then, in order:

    1. A last channel of 2 or 4 is an alpha channel and is dropped; a
       colour mask whose channels are equal is read as grey.
    2. ``threshold`` given: foreground is ``value > threshold`` (soft or
       JPEG masks).
    3. ``fg_value`` given: foreground is ``value == fg_value`` (a label-id
       mask with several classes; the datasets' ``seg_fg_value``).
    4. Otherwise the mask must name its foreground by itself: a bool mask;
       0 plus one other value (0/1, 0/255, 0/label id, also in colour:
       black plus one colour); or 0, one label id and 255, where 255 is
       mmseg's ignore band and counts as background.

    Anything else (several classes, soft edges, JPEG noise, NaN) is
    ambiguous and raises instead of guessing.

    Args:
        mask (str | np.ndarray): Mask file path or array.
        name (str, optional): How errors name the mask (e.g.
            ``'prompt 2 mask'``); the path, or ``(array)``, is appended.
        fg_value (float, optional): Foreground label id. Defaults to None.
        threshold (float, optional): Foreground above this value.
            Defaults to None.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        np.ndarray: HxW bool.

    Raises:
        ValueError: Naming the mask, the values found and the fix.
    """
    if fg_value is not None and threshold is not None:
        raise ValueError('give mask_fg_value or mask_threshold, not both')
    if isinstance(mask, str):
        arr = read_mask_values(mask, name or 'mask', backend_args)
        name = f'{name or "mask"} {mask!r}'
    else:
        name = f'{name} (array)' if name else 'mask array'
        arr = np.asarray(mask)
    if arr.ndim == 3:
        if arr.shape[2] in (2, 4):
            arr = arr[..., :-1]
        if (arr == arr[..., :1]).all():
            arr = arr[..., 0]
    if arr.ndim == 3:
        return _colour_foreground(arr, name, fg_value, threshold)
    if arr.ndim != 2:
        raise ValueError(f'{name}: a mask must be HxW or HxWxC, got shape '
                         f'{arr.shape}. {MASK_FIX}')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
        raise ValueError(f'{name} holds NaN or infinite values. {MASK_FIX}')
    if threshold is not None:
        return arr > threshold
    if fg_value is not None:
        return arr == fg_value
    if arr.dtype == bool:
        return arr
    values = np.unique(arr)
    fg = values[values != 0]
    if len(fg) == 2 and fg[1] == IGNORE_VALUE:
        fg = fg[:1]  # label ids with the 255 void band (mmseg convention)
    if len(fg) > 1:
        raise ValueError(
            f'{name} has {len(fg)} foreground values '
            f'{_shorten(fg.tolist())}, so which pixels are foreground is '
            f'ambiguous. {MASK_FIX}')
    return arr == fg[0] if len(fg) else np.zeros(arr.shape, bool)


def _colour_foreground(arr: np.ndarray, name: str, fg_value: Optional[float],
                       threshold: Optional[float]) -> np.ndarray:
    """Foreground of a colour mask: black plus exactly one colour."""
    if fg_value is not None or threshold is not None:
        raise ValueError(
            f'{name} is a colour mask; mask_fg_value and mask_threshold '
            'apply to single-channel masks. Save it as a single-channel '
            'label-id or 0/255 PNG.')
    black = (arr == 0).all(axis=2)
    colours = np.unique(arr[~black], axis=0)
    if len(colours) > 1:
        raise ValueError(
            f'{name} is a colour mask with {len(colours)} non-black colours '
            f'{_shorten(colours.tolist())}, so which pixels are foreground '
            f'is ambiguous. {MASK_FIX}')
    return ~black


def _shorten(values: list, limit: int = 8) -> str:
    return str(values[:limit])[:-1] + ', ...]' if len(values) > limit \
        else str(values)


def warn_if_empty(fg: np.ndarray, name: str, where: str = '') -> None:
    """Warn, naming the prompt, when a prompt mask shows no foreground.

    Args:
        fg (np.ndarray): The mask's foreground (bool).
        name (str): How the warning names the prompt.
        where (str): When it was checked; defaults to ``'after reading
            it'``.
    """
    if fg.any():
        return
    warnings.warn(
        f'{name} has no foreground pixels {where or "after reading it"}: '
        'this prompt shows an empty mask and teaches the model to predict '
        'background. Check the file, or drop the prompt.',
        UserWarning,
        stacklevel=3)
