"""Shared helpers of the datasets that read split files: one clear error
for a missing folder, list file or image, and the ``<name>__<class>`` line
format of the HSNet/VAT split files (Pascal-5i, COCO-20i)."""
import os.path as osp
from typing import Iterable, List, Sequence, Tuple

from mmengine.fileio import list_from_file


def check_dir(path: str, what: str, hint: str) -> None:
    """Raise one clear ``FileNotFoundError`` if a directory is missing."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. {hint}')


def read_split_lines(path: str, what: str, hint: str) -> List[Tuple[int, str]]:
    """Read the non-empty lines of a split file (LF or CRLF) with their
    1-based line numbers (blank lines count), for messages.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file holds no line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. {hint}')
    # ``str.strip`` also removes the '\r' of CRLF files.
    lines = [(lineno, line.strip())
             for lineno, line in enumerate(list_from_file(path), 1)]
    lines = [(lineno, line) for lineno, line in lines if line]
    if not lines:
        raise ValueError(f'{what} {path!r} contains no sample.')
    return lines


def read_split_file(path: str, what: str, hint: str) -> List[str]:
    """The non-empty lines of a split file (see :func:`read_split_lines`).
    """
    return [line for _, line in read_split_lines(path, what, hint)]


def check_files_exist(paths: Iterable[str], what: str, hint: str) -> None:
    """Raise one ``FileNotFoundError`` naming the first missing file.

    The message also counts the other missing files, so that a partly
    extracted dataset is reported once rather than file by file.
    """
    # ``dict.fromkeys`` checks each path once, in the order given.
    missing = [path for path in dict.fromkeys(paths) if not osp.isfile(path)]
    if missing:
        more = (f' (and {len(missing) - 1} more missing)'
                if len(missing) > 1 else '')
        raise FileNotFoundError(
            f'{what} not found: {missing[0]!r}{more}. {hint}')


def split_line(line: str, path: str, lineno: int) -> Sequence[str]:
    """Split a ``<name>__<class>`` split-file line."""
    name, sep, cls = line.rpartition('__')
    if not sep or not name or not cls.isdigit():
        raise ValueError(f'{path}:{lineno}: malformed line {line!r}; '
                         'expected "<image>__<class id>".')
    return name, cls


def check_image_and_mask_files(data_list: List[dict], img_dir: str,
                               seg_dir: str, what: str, hint: str) -> None:
    """Fail with one clear message if a folder, image or mask is missing.

    Args:
        data_list (list[dict]): Records with ``img_path``/``seg_map_path``.
        img_dir (str): Image folder.
        seg_dir (str): Mask folder.
        what (str): Dataset name for the messages, e.g. ``'Pascal-5i'``.
        hint (str): How to obtain the data.
    """
    check_dir(img_dir, f'{what} image folder', hint)
    check_dir(seg_dir, f'{what} mask folder', hint)
    check_files_exist((d['img_path'] for d in data_list), f'{what} image',
                      hint)
    check_files_exist((d['seg_map_path'] for d in data_list), f'{what} mask',
                      hint)


def add_feature_fg_values(data_list: List[dict]) -> None:
    """Add ``feature_fg_value``: the image's first-listed class's mask value.

    The reference's precomputed fusion features hold, per image, the mask
    of the class listed first for it (docs/method.md, section 11); kept for
    ``LoadVICLPair(reference_features=True)``.
    """
    first_fg = {}
    for info in data_list:
        first_fg.setdefault(info['sample_name'], info['seg_fg_value'])
    for info in data_list:
        info['feature_fg_value'] = first_fg[info['sample_name']]
