"""Reading the inferencer's inputs and writing its outputs.

Every function here either returns exactly what the file or array holds or
raises an error that names the file (or prompt index) and the fix. Files
are read by the datasets' strict reader
(:mod:`projects.prompthub.utils.image_io`): a truncated image
is never returned as a half image; a prompt mask is read with one rule
whether it comes as a file or an array
(:mod:`~projects.prompthub.datasets.transforms.user_inputs`); an output
that could not be written raises instead of being silently missing.
"""
import json
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from projects.prompthub.datasets.transforms.user_inputs import (  # noqa: F401
    IGNORE_VALUE, ImageLike, mask_foreground, rgb_array, warn_if_empty)
from projects.prompthub.utils.image_io import read_image


def read_rgb(img: ImageLike, what: str = 'image') -> np.ndarray:
    """Path or HxW(x3) array -> HxWx3 uint8 RGB.

    Files are read like dataset images (PIL, strict: truncated files are
    refused, 16-bit scaled to 8 bits; no EXIF rotation, as in training and
    testing).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, truncated, corrupt or not an image,
            or the array is not 0..255 RGB.
    """
    if isinstance(img, str):
        return np.asarray(read_image(img, what))
    return rgb_array(img, what)


def output_stems(queries: Sequence[ImageLike]) -> List[str]:
    """Distinct, deterministic output names of ``queries``.

    A path's file stem, ``query_{i}`` for an array. Stems that repeat in
    the list (``a/img.png`` and ``b/img.png``; compared case-insensitively,
    as on case-insensitive file systems) become ``{stem}_{i}`` with ``i``
    the query's position, so no output overwrites another.
    """
    stems = [
        osp.splitext(osp.basename(q))[0]
        if isinstance(q, str) else f'query_{i}' for i, q in enumerate(queries)
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
    tmp = osp.join(
        osp.dirname(osp.abspath(path)),
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


#: A prompt: ``(image, mask)`` or ``(image, mask, mask_fg_value)``.
Prompt = Tuple


def load_candidates(path: str) -> Dict[str, Prompt]:
    """Read the prompt pool of a retrieval index from a JSON file.

    The file maps each candidate name of the index (a ``sample_name``:
    the image stem for the shipped datasets) to its prompt pair::

        {"2007_000032": ["JPEGImages/2007_000032.jpg",
                         "masks/2007_000032.png"],
         "2007_000039": {"image": "...jpg", "mask": "...png",
                         "mask_fg_value": 15}}

    A list may hold a third item, the mask's foreground label id
    (``mask_fg_value`` for a label-id mask with several classes, as the
    datasets' ``seg_fg_value``). Relative paths are relative to the JSON
    file's folder.

    Args:
        path (str): The JSON file.

    Returns:
        dict: Name -> ``(image, mask)`` or ``(image, mask, fg_value)``.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Naming the file and the first malformed entry.
    """
    fix = ('write {"name": ["image", "mask"], ...} or {"name": {"image": '
           '..., "mask": ..., "mask_fg_value": 15}, ...}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'candidates file not found: {path!r}; '
                                f'{fix}.')
    try:
        with open(path, encoding='utf-8') as f:
            entries = json.load(f)
    except ValueError as e:
        raise ValueError(f'candidates file {path!r} is not valid JSON ({e}); '
                         f'{fix}.') from None
    if not isinstance(entries, dict) or not entries:
        raise ValueError(f'candidates file {path!r} must hold a non-empty '
                         f'JSON object; {fix}.')
    root = osp.dirname(osp.abspath(path))
    pool = {}
    for name, entry in entries.items():
        if isinstance(entry, dict):
            extra = sorted(set(entry) - {'image', 'mask', 'mask_fg_value'})
            if extra:
                raise ValueError(f'candidates file {path!r}: entry {name!r} '
                                 f'has unknown keys {extra}; {fix}.')
            entry = [entry.get('image'), entry.get('mask')] + (
                [entry['mask_fg_value']] if 'mask_fg_value' in entry else [])
        ok = isinstance(entry, list) and len(entry) in (2, 3) and all(
            isinstance(p, str) and p
            for p in entry[:2]) and (len(entry) == 2 or isinstance(
                entry[2], (int, float)) and not isinstance(entry[2], bool))
        if not ok:
            raise ValueError(f'candidates file {path!r}: entry {name!r} is '
                             f'{entry!r}, not an image and a mask; {fix}.')
        pair = [osp.join(root, p) for p in entry[:2]]
        pool[str(name)] = tuple(pair + entry[2:])
    return pool
