"""Strict reading of images and label masks: bad files fail by name.

PIL alone reports an empty or unknown file as ``cannot identify image file
<BytesIO ...>`` (no path), decodes a truncated file into a half-grey
picture when something set ``ImageFile.LOAD_TRUNCATED_IMAGES``, and
clips 16-bit images to 255 in ``convert('RGB')`` (a mostly white
picture). The readers here name the file in every error, always refuse
truncated files, and scale 16-bit images to 8 bits the way PIL and OpenCV
read 16-bit colour PNGs (the high byte); 16-bit *masks* keep their values
(they are label ids).

API:

- :func:`read_image` (path -> 8-bit RGB ``PIL.Image``),
- :func:`read_mask` (path -> HxW integer array of label ids),
- :func:`to_uint8_image` (in-memory array -> uint8, 16-bit scaled),
- :class:`BadImageError`, raised for a file that exists but is not a
  usable image (missing files raise ``FileNotFoundError``).
"""
import io
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import numpy as np
from mmengine import fileio
from PIL import Image, ImageFile

# PIL modes holding 16 bits per pixel (one channel).
_MODES_16BIT = ('I;16', 'I;16L', 'I;16B', 'I;16N')
_STRICT_LOCK = threading.Lock()


class BadImageError(OSError, ValueError):
    """An image or mask file exists but cannot be used (empty, truncated,
    not an image, or of an unsupported kind).

    An ``OSError`` like PIL's own read errors, so existing ``except
    OSError`` handlers still catch it, and a ``ValueError`` (bad content).
    """


@contextmanager
def _truncated_files_refused() -> Iterator[None]:
    """Decode with ``ImageFile.LOAD_TRUNCATED_IMAGES`` off.

    Nothing in this project or its dependencies sets the flag, but user
    code may; a truncated file must still fail rather than come back
    partly grey. The flag is restored afterwards (a lock serialises the
    rare case where it was on).
    """
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _STRICT_LOCK:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = True


def _where(path: str, context: str) -> str:
    return f'{path!r}{f" ({context})" if context else ""}'


def open_image(path: str,
               what: str = 'Image',
               backend_args: Optional[dict] = None,
               context: str = '') -> Image.Image:
    """Read and fully decode an image file with mmengine's file backends.

    The PIL mode is kept (see :func:`read_image` and :func:`read_mask`
    for converted results).

    Args:
        path (str): File path or URI.
        what (str): What the file is, for messages (e.g. ``'Image'``).
        backend_args (dict, optional): mmengine file backend arguments.
        context (str): Where the path came from, for messages (e.g.
            ``'line 12 of splits/pascal/trn/fold0.txt'``).

    Returns:
        PIL.Image.Image: The decoded image.

    Raises:
        FileNotFoundError: The file does not exist.
        BadImageError: The file is empty, not an image PIL can decode,
            or truncated/corrupt.
    """
    where = _where(path, context)
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} file not found: {where}.') from None
    if not data:
        raise BadImageError(
            f'{what} file {where} is empty (0 bytes); re-download or '
            're-extract it.')
    try:
        with _truncated_files_refused():
            img = Image.open(io.BytesIO(data))
            img.load()
    except Image.UnidentifiedImageError:
        raise BadImageError(
            f'{what} file {where} is not an image PIL can decode '
            f'({len(data)} bytes); re-download or re-extract it.') from None
    except (OSError, SyntaxError, ValueError) as err:
        # PIL raises OSError('image file is truncated ...') and, for
        # broken chunks, SyntaxError or ValueError.
        raise BadImageError(
            f'{what} file {where} is truncated or corrupt ({err}); '
            're-download or re-extract it.') from None
    return img


def to_uint8_image(arr: np.ndarray, what: str = 'image') -> np.ndarray:
    """An in-memory image array as uint8, 16-bit values scaled.

    ``uint8`` passes unchanged; ``uint16`` keeps its high byte
    (``v >> 8``, so 8-bit data stored as ``v * 257`` round-trips, as PIL
    and OpenCV read 16-bit colour PNGs). Other dtypes are refused rather
    than guessed.

    Raises:
        BadImageError: ``arr`` has another dtype.
    """
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == 'u' and arr.dtype.itemsize == 2:
        return (arr >> 8).astype(np.uint8)
    raise BadImageError(
        f'{what} has dtype {arr.dtype}; give uint8 (0-255) or uint16 '
        '(0-65535) pixels, e.g. (x * 255).round().astype(np.uint8) for '
        'floats in [0, 1].')


def _to_rgb(img: Image.Image, what: str, where: str) -> Image.Image:
    """8-bit RGB version of a decoded image (16-bit scaled, not clipped)."""
    if img.mode in _MODES_16BIT:
        gray = to_uint8_image(np.asarray(img), f'{what} {where}')
        return Image.fromarray(gray, 'L').convert('RGB')
    if img.mode in ('I', 'F'):
        # 32-bit integer / float: the value range is not known.
        raise BadImageError(
            f'{what} file {where} has PIL mode {img.mode!r} (32-bit '
            f'{"integer" if img.mode == "I" else "float"} pixels) whose '
            'value range is unknown; save it as an 8- or 16-bit image.')
    return img.convert('RGB')


def read_image(path: str,
               what: str = 'Image',
               backend_args: Optional[dict] = None,
               context: str = '') -> Image.Image:
    """Read an image file as an 8-bit RGB ``PIL.Image``.

    8-bit files give exactly ``Image.open(path).convert('RGB')``;
    16-bit grayscale files (PIL ``'I;16'``) are scaled to 8 bits
    (``v >> 8``) instead of clipped to 255.

    Args:
        path (str): File path or URI.
        what (str): What the file is, for messages. Defaults to
            ``'Image'``.
        backend_args (dict, optional): mmengine file backend arguments.
        context (str): Where the path came from, for messages.

    Returns:
        PIL.Image.Image: Mode ``'RGB'``.

    Raises:
        FileNotFoundError: The file does not exist.
        BadImageError: See :func:`open_image`; also for 32-bit integer or
            float images.
    """
    img = open_image(path, what, backend_args, context)
    return _to_rgb(img, what, _where(path, context))


def read_mask(path: str,
              what: str = 'Mask',
              backend_args: Optional[dict] = None,
              context: str = '') -> np.ndarray:
    """Read a single-channel label-id mask as an HxW integer array.

    Values are kept as stored: palette indices of ``'P'`` PNGs, 8-bit
    values of ``'L'``, 16-bit ids of ``'I;16'`` PNGs (not scaled) and
    0/1 of ``'1'`` images.

    Args:
        path (str): File path or URI.
        what (str): What the file is, for messages. Defaults to
            ``'Mask'``.
        backend_args (dict, optional): mmengine file backend arguments.
        context (str): Where the path came from, for messages.

    Returns:
        np.ndarray: HxW unsigned or signed integer array.

    Raises:
        FileNotFoundError: The file does not exist.
        BadImageError: See :func:`open_image`; also for a colour
            (multi-channel) or floating-point mask.
    """
    img = open_image(path, what, backend_args, context)
    mask = np.asarray(img)
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    if mask.ndim != 2 or mask.dtype.kind not in 'ui':
        raise BadImageError(
            f'{what} {_where(path, context)} must be a single-channel '
            f'label-id image (PNG mode L, P or I;16), got PIL mode '
            f'{img.mode!r} (shape {mask.shape}, dtype {mask.dtype}).')
    return mask
