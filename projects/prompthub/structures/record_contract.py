"""The record keys a dataset must provide to serve VICL queries or prompts.

``RetrievalAugmentedDataset``, the retrieval index tools and
``LoadVICLPair`` read these keys from ``dataset.get_data_info(i)``. The
datasets of this project write them; a stock mmseg dataset writes none of
the VICL ones (only ``img_path``, ``seg_map_path``, ``label_map``,
``reduce_zero_label``, ``seg_fields``), so it is wrapped in
``StockSegToVICL``, which derives them exactly. A missing key is reported
by :class:`MissingRecordKeyError`, naming the key, the dataset, the record
and that fix.

This module imports nothing heavy: ``projects.prompthub.retrieval`` uses
it too.
"""
from typing import Any, Mapping, Optional

#: Record keys of a VICL segmentation sample and what they mean.
VICL_RECORD_KEYS = {
    'sample_name':
    'the retrieval key, i.e. the name of the image as in the retrieval '
    'index, the same for every record of one image',
    'img_path':
    'the image file',
    'seg_map_path':
    'the label-id mask file of a segmentation record',
    'seg_fg_value':
    'the mask value that is the binary foreground of a segmentation '
    'record; without it LoadVICLPair takes class_id + 1, the Pascal-5i '
    'convention of 0-based class ids without background',
    'class_id':
    "the record's class, optional: prompt_rule='query_class' prefers "
    "prompts of the query's class",
}

#: How to give a stock mmseg dataset the keys, for messages.
STOCK_FIX = (
    "A stock mmseg dataset (e.g. PascalVOCDataset) has no 'sample_name' and "
    "no binary class: wrap it, e.g. dataset=dict(type='StockSegToVICL', "
    "dataset=<the mmseg dataset config>, classes=['person'], "
    "missing_class='skip') (projects.prompthub.datasets.StockSegToVICL); a "
    'dataset of your own adds the keys in its load_data_list.')


class MissingRecordKeyError(KeyError):
    """A dataset record lacks a key of the VICL record contract.

    A ``KeyError`` whose text is the plain message (``KeyError`` would
    print it quoted, on one line).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _where(info: Mapping, index: Optional[int], dataset: Any,
           role: str) -> str:
    path = info.get('img_path') or info.get('seg_map_path')
    record = f"record {'?' if index is None else index}" + (f' ({path!r})'
                                                            if path else '')
    if dataset is None:
        return record[0].upper() + record[1:]
    ann_file = getattr(dataset, 'ann_file', None)
    listed = f', ann_file {ann_file!r}' if ann_file else ''
    return (f"{role.capitalize()}{' d' if role else 'D'}ataset "
            f'{type(dataset).__name__}: {record}{listed}')


def missing_key_error(key: str,
                      info: Mapping,
                      index: Optional[int],
                      dataset: Any,
                      user: str,
                      role: str = '') -> MissingRecordKeyError:
    """The error for a record without ``key``.

    Args:
        key (str): The missing key.
        info (Mapping): The record (``dataset.get_data_info(index)``).
        index (int, optional): Its index in ``dataset`` (None: unknown).
        dataset: The dataset (None: unknown, e.g. in a transform).
        user (str): What needs the key, e.g. ``'RetrievalAugmentedDataset'``.
        role (str): ``'query'``, ``'prompt'`` or ``''``.

    Returns:
        MissingRecordKeyError: To be raised.
    """
    meaning = VICL_RECORD_KEYS.get(key, '')
    have = ', '.join(sorted(str(k) for k in info)) or 'none'
    return MissingRecordKeyError(
        f'{_where(info, index, dataset, role)} has no {key!r}, which '
        f"{user} needs{f': {meaning}' if meaning else ''}. The record has "
        f'the keys: {have}. {STOCK_FIX}')


def record_value(info: Mapping,
                 key: str,
                 index: int,
                 dataset: Any,
                 user: str,
                 role: str = '') -> Any:
    """``info[key]``, or a :class:`MissingRecordKeyError` naming the fix."""
    try:
        return info[key]
    except KeyError:
        raise missing_key_error(key, info, index, dataset, user,
                                role) from None
