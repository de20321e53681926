"""Strict reading of the inferencer's inputs and writing of its outputs.

Every function here either returns exactly what the file or array holds or
raises an error that names the file (or prompt index) and the fix: a
truncated image is never returned as a half image, a prompt mask is read
with one rule whether it comes as a file or an array, and an output that
could not be written raises instead of being silently missing.
"""
import io
import os
import os.path as osp
import warnings
from collections import Counter
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
from mmengine import fileio
from PIL import Image, ImageFile, UnidentifiedImageError

ImageLike = Union[str, np.ndarray]

#: mmseg's ``ignore_index``: in a label-id mask it marks the void band.
IGNORE_VALUE = 255

_MASK_FIX = ('Save the mask as a single-channel PNG with 0 for background '
             'and one foreground value (0/1 or 0/255), or choose the '
             'foreground with mask_fg_value (a label id, CLI '
             '--mask-fg-value) or mask_threshold (a soft or JPEG mask, CLI '
             '--mask-threshold).')


def read_file_bytes(path: str, what: str) -> bytes:
    """All bytes of ``path`` (mmengine file backends).

    Raises:
        FileNotFoundError: Naming ``what`` and the path.
        ValueError: The file is empty.
    """
    try:
        data = fileio.get(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} file not found: {path!r}') from None
    if not data:
        raise ValueError(f'{what} {path!r} is an empty file (0 bytes); '
                         're-export or re-copy it.')
    return data


def open_complete_image(data: bytes, path: str,
                        what: str) -> Optional[Image.Image]:
    """Decode ``data`` fully with PIL, refusing truncated files.

    PIL decodes every byte and raises on a truncated or corrupt stream
    (OpenCV, by contrast, returns a truncated JPEG as a half-grey image and
    only prints a warning), so this is the completeness check of both
    readers. ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off meanwhile,
    whatever another library set it to.

    Returns:
        PIL.Image.Image | None: The loaded image, or None when PIL does not
        know the format (the caller may still decode it with OpenCV).

    Raises:
        ValueError: Naming the file when its content is truncated or
            corrupt.
    """
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except UnidentifiedImageError:
        return None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError
        raise ValueError(
            f'{what} {path!r} is truncated or corrupt ({type(e).__name__}: '
            f'{e}); re-export or re-download it.') from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
    return img


def read_rgb(img: ImageLike, what: str = 'image') -> np.ndarray:
    """Path or HxW(x3) array -> HxWx3 uint8 RGB.

    Files are decoded by OpenCV (``IMREAD_COLOR``: EXIF orientation
    applied, 16-bit scaled to 8-bit) after PIL has checked that the file is
    complete.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, truncated, corrupt or not an image.
    """
    if not isinstance(img, str):
        return _rgb_array(np.asarray(img), what)
    data = read_file_bytes(img, what)
    checked = open_complete_image(data, img, what)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        known = 'PIL reads it but OpenCV does not' if checked else \
            'neither PIL nor OpenCV recognises it'
        raise ValueError(f'{what} {img!r} cannot be decoded ({known}); '
                         'convert it to PNG or JPEG.')
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _rgb_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Check an RGB array: HxW or HxWx3 with integer values in 0..255."""
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise ValueError(f'{what} array must be HxW or HxWx3 RGB, got '
                         f'shape {arr.shape}.')
    if arr.dtype != np.uint8:
        if arr.dtype == bool or not (
                np.isfinite(arr).all() and (arr == np.round(arr)).all()
                and arr.min() >= 0 and arr.max() <= 255):
            raise ValueError(
                f'{what} array of dtype {arr.dtype} is not 0..255 integer '
                'RGB (a [0, 1] float image would turn black); give uint8 '
                'RGB, e.g. (img * 255).round().astype(np.uint8).')
    return arr.astype(np.uint8)


def read_mask_file(path: str, what: str = 'prompt mask') -> np.ndarray:
    """The stored values of a mask file (label ids, not colours).

    Read with PIL like the datasets read masks: a palette PNG gives its
    label ids (OpenCV would turn them into the palette colours' grey
    levels), a 16-bit PNG its 16-bit values, a 1-bit PNG booleans.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, truncated, corrupt or not an image.
    """
    img = open_complete_image(read_file_bytes(path, what), path, what)
    if img is None:
        raise ValueError(f'{what} {path!r} is not an image PIL can read; '
                         'save the mask as a PNG.')
    if img.mode in ('CMYK', 'YCbCr', 'LAB', 'HSV'):
        img = img.convert('RGB')
    return np.asarray(img)


def mask_foreground(mask: ImageLike,
                    name: Optional[str] = None,
                    fg_value: Optional[float] = None,
                    threshold: Optional[float] = None) -> np.ndarray:
    """HxW bool foreground of a prompt mask, one rule for files and arrays.

    A path is read by :func:`read_mask_file` (stored values); an array is
    taken as is. Then, in order:

    1. A last channel of 2 or 4 is an alpha channel and is dropped; a
       colour mask whose channels are equal is read as grey.
    2. ``threshold`` given: foreground is ``value > threshold`` (soft or
       JPEG masks).
    3. ``fg_value`` given: foreground is ``value == fg_value`` (a label-id
       mask with several classes).
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

    Returns:
        np.ndarray: HxW bool.

    Raises:
        ValueError: Naming the mask, the values found and the fix.
    """
    if fg_value is not None and threshold is not None:
        raise ValueError('give mask_fg_value or mask_threshold, not both')
    if isinstance(mask, str):
        arr = read_mask_file(mask, name or 'mask')
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
                         f'{arr.shape}. {_MASK_FIX}')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
        raise ValueError(f'{name} holds NaN or infinite values. {_MASK_FIX}')
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
            f'ambiguous. {_MASK_FIX}')
    return arr == fg[0] if len(fg) else np.zeros(arr.shape, bool)


def _colour_foreground(arr: np.ndarray, name: str,
                       fg_value: Optional[float],
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
            f'is ambiguous. {_MASK_FIX}')
    return ~black


def _shorten(values: list, limit: int = 8) -> str:
    return str(values[:limit])[:-1] + ', ...]' if len(values) > limit \
        else str(values)


def warn_if_empty(fg: np.ndarray, name: str, cell: Optional[int] = None):
    """Warn, naming the prompt, when a prompt mask shows no foreground.

    Args:
        fg (np.ndarray): The mask's foreground (bool).
        name (str): How the warning names the prompt.
        cell (int, optional): Set when ``fg`` is the mask resized to the
            canvas cell; the warning then says the object was lost there.
    """
    if fg.any():
        return
    where = (f'after the nearest-neighbour resize to the {cell}x{cell} '
             'canvas cell (the object is too small or thin)'
             if cell else 'after reading it')
    warnings.warn(
        f'{name} has no foreground pixels {where}: this prompt shows an '
        'empty mask and teaches the model to predict background. Check '
        'the file, or drop the prompt.', UserWarning, stacklevel=3)


def output_stems(queries: Sequence[ImageLike]) -> List[str]:
    """Distinct, deterministic output names of ``queries``.

    A path's file stem, ``query_{i}`` for an array. Stems that repeat in
    the list (``a/img.png`` and ``b/img.png``; compared case-insensitively,
    as on case-insensitive file systems) become ``{stem}_{i}`` with ``i``
    the query's position, so no output overwrites another.
    """
    stems = [
        osp.splitext(osp.basename(q))[0] if isinstance(q, str) else
        f'query_{i}' for i, q in enumerate(queries)
    ]
    counts = Counter(s.lower() for s in stems)
    taken = set(counts)
    names = []
    for i, stem in enumerate(stems):
        name = stem
        if counts[stem.lower()] > 1:
            name = f'{stem}_{i}'
            while name.lower() in taken:
                name += f'_{i}'
            taken.add(name.lower())
        names.append(name)
    return names


def write_image(path: str, img: np.ndarray) -> str:
    """Write ``img`` (OpenCV channel order) to ``path`` or raise.

    ``cv2.imwrite`` returns False without raising when it cannot write;
    here the image is encoded in memory and written to a temporary file
    that replaces ``path`` only when complete, so a failed or interrupted
    write leaves no half file.

    Returns:
        str: ``path``.

    Raises:
        ValueError: No encoder for the extension.
        OSError: Naming the path when the file cannot be written.
    """
    ext = osp.splitext(path)[1]
    try:
        ok, buf = cv2.imencode(ext, img)
    except cv2.error:
        ok, buf = False, None
    if not ok:
        raise ValueError(f'cannot encode {path!r}: OpenCV has no writer for '
                         f'extension {ext!r} (or the image of shape '
                         f'{img.shape}); write .png.')
    # A pid-named sibling (not mkstemp, which makes it 0600) so the output
    # gets the usual umask permissions.
    tmp = osp.join(osp.dirname(osp.abspath(path)),
                   f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException as e:
        if osp.isfile(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            raise type(e)(e.errno, f'cannot write {path!r} ({e.strerror}); '
                          'choose a writable output folder') from e
        raise
    return path
