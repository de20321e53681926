"""Binary VICL records derived exactly from a stock mmseg dataset."""
import copy
import logging
import numbers
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from projects.prompthub.registry import DATASETS
from projects.prompthub.structures.record_contract import record_value
from projects.prompthub.utils.image_io import read_mask

MISSING_CLASS = ('error', 'skip')
#: mmseg's ``LoadAnnotations`` reads every mask as uint8.
_UINT8_VALUES = np.arange(256, dtype=np.uint8)


def mmseg_raw_values(label_id: int, reduce_zero_label: bool,
                     label_map: Optional[Dict[int, int]]) -> List[int]:
    """The mask file values that mmseg labels ``label_id``.

    Applies mmseg 1.x ``LoadAnnotations``' conversion (``reduce_zero_label``:
    0 -> 255, v -> v - 1; then ``label_map``: old id -> new id, from the
    pre-conversion copy) to every uint8 value and returns those that become
    ``label_id``. With neither option this is ``[label_id]``, with
    ``reduce_zero_label`` ``[label_id + 1]``.

    Args:
        label_id (int): mmseg label id (an index of the dataset's
            ``metainfo['classes']``).
        reduce_zero_label (bool): The record's ``reduce_zero_label``.
        label_map (dict, optional): The record's ``label_map``.

    Returns:
        list[int]: The raw values, ascending.
    """
    gt = _UINT8_VALUES.copy()
    if reduce_zero_label:
        gt[gt == 0] = 255
        gt = gt - 1
        gt[gt == 254] = 255
    if label_map is not None:
        before = gt.copy()
        for old_id, new_id in label_map.items():
            gt[before == old_id] = new_id
    return _UINT8_VALUES[gt == label_id].tolist()


def sample_name_of(img_path: str, img_dir: Optional[str],
                   img_suffix: Optional[str]) -> str:
    """The retrieval name of a stock record: its image path relative to the
    image folder, without the image suffix (``'2007_000032'`` for VOC, the
    line of its ``ann_file``), with ``/`` separators."""
    rel = img_path
    if img_dir:
        prefix = img_dir.rstrip('/\\')
        if img_path.startswith(prefix) and img_path[len(prefix):len(prefix) +
                                                    1] in ('/', '\\'):
            rel = img_path[len(prefix) + 1:]
    else:
        rel = osp.basename(img_path)
    if img_suffix and rel.endswith(img_suffix) and rel != img_suffix:
        rel = rel[:-len(img_suffix)]
    else:
        rel = osp.splitext(rel)[0]
    return rel.replace('\\', '/')


def _is_mmseg_load_annotations(transform: Any) -> bool:
    if isinstance(transform, dict):
        name = str(transform.get('type', ''))
        return name.split('.')[-1] == 'LoadAnnotations'
    return type(transform).__name__ == 'LoadAnnotations'


@DATASETS.register_module()
class StockSegToVICL(BaseDataset):
    """Binary VICL records, one per (image, chosen class), from a stock
    mmseg segmentation dataset.

    A stock mmseg dataset (``PascalVOCDataset``, ``ADE20KDataset``, ...)
    gives multi-class records without the keys VICL needs (see
    ``RetrievalAugmentedDataset``'s record contract). This wrapper reads
    the wrapped dataset's records and, for every image whose mask holds a
    chosen class, writes a record with

    - ``img_path``, ``seg_map_path``: the stock record's files;
    - ``sample_name``: the image path relative to the dataset's image
      folder without the image suffix (VOC: ``'2007_000032'``, the line of
      its ``ann_file``), shared by the records of one image;
    - ``class_id``: the class's **mmseg label id**, i.e. its index in the
      wrapped dataset's ``metainfo['classes']``: the value mmseg's
      ``LoadAnnotations`` gives its pixels in ``gt_seg_map``, after
      ``reduce_zero_label`` and ``label_map`` (the reduced and mapped
      convention; VOC: 15 is ``'person'``, 0 ``'background'``);
    - ``class_name``;
    - ``seg_fg_value``: the raw mask value that mmseg turns into
      ``class_id`` (:func:`mmseg_raw_values`; VOC 15, or ``class_id + 1``
      under ``reduce_zero_label=True`` as in ADE20K);
    - ``source_idx``: the record's index in the wrapped dataset.

    ``LoadVICLPair(task='segmentation')`` then draws the binary label:
    foreground exactly where mmseg's ``gt_seg_map == class_id``; other
    classes, background and the ignore value (255) are background.

    Every mask is read once at initialisation to find its classes. An
    image with none of ``classes`` raises an error naming it, unless
    ``missing_class='skip'``, which drops it and logs how many were
    dropped; a chosen class found in no mask raises likewise (a warning
    with ``'skip'``).

    The wrapped dataset's ``pipeline`` is not run (a config dict is built
    with ``pipeline=[]``): records go through this wrapper's ``pipeline``,
    e.g. ``[dict(type='LoadVICLPair', task='segmentation')]``. mmseg's
    ``LoadAnnotations`` is refused there: it would load the multi-class
    map, not the binary one.

    Meta information (after :meth:`full_init`): the wrapped dataset's,
    plus ``vicl_classes`` (the chosen names) and ``vicl_label_ids``.

    Args:
        dataset (dict | BaseDataset): The stock mmseg dataset or its config
            (e.g. ``_base_.val_dataloader.dataset`` of mmseg's
            ``_base_/datasets/pascal_voc12.py``). Built on first
            :meth:`full_init`.
        classes (str | int | Sequence[str | int]): The class(es) whose
            pixels are the foreground: names of the wrapped dataset's
            ``metainfo['classes']`` or mmseg label ids.
        missing_class (str): ``'error'`` or ``'skip'``: what to do with an
            image whose mask holds none of ``classes``. Defaults to
            ``'error'``.
        pipeline (Sequence[dict | callable]): Transforms of the derived
            records. Defaults to ().
        test_mode (bool): Defaults to False.
        indices (int | Sequence[int], optional): Keep only these derived
            records (``BaseDataset``). Defaults to None.
        serialize_data (bool): ``BaseDataset``'s record serialisation.
            Defaults to True.
        lazy_init (bool): Defer :meth:`full_init`. Defaults to False.
        max_refetch (int): ``BaseDataset``'s retries when the pipeline
            returns None in training mode. Defaults to 1000.
    """

    METAINFO: dict = dict()

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 classes: Union[str, int, Sequence[Union[str, int]]],
                 missing_class: str = 'error',
                 pipeline: Sequence[Union[dict, Any]] = (),
                 test_mode: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 serialize_data: bool = True,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        if missing_class not in MISSING_CLASS:
            raise ValueError(f'StockSegToVICL: missing_class must be one of '
                             f'{MISSING_CLASS}, got {missing_class!r}.')
        if not (isinstance(dataset, dict)
                or hasattr(dataset, 'get_data_info')):
            raise TypeError('StockSegToVICL: dataset must be a dataset config '
                            f'or a dataset, got {type(dataset)}.')
        if isinstance(classes, (str, numbers.Integral)):
            classes = [classes]
        self.wanted_classes = list(classes)
        if not self.wanted_classes:
            raise ValueError('StockSegToVICL: classes is empty; name the '
                             "class(es) whose pixels are the foreground, e.g. "
                             "classes=['person'].")
        for transform in pipeline:
            if _is_mmseg_load_annotations(transform):
                raise ValueError(
                    'StockSegToVICL: the pipeline has mmseg LoadAnnotations, '
                    'which loads the multi-class map; load the binary pair '
                    "with dict(type='LoadVICLPair', task='segmentation').")
        self.missing_class = missing_class
        self._dataset_cfg = dataset
        self.dataset: Optional[Any] = None
        super().__init__(
            pipeline=list(pipeline),
            test_mode=test_mode,
            indices=indices,
            serialize_data=serialize_data,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    def _build_source(self) -> Any:
        cfg = self._dataset_cfg
        if not isinstance(cfg, dict):
            return cfg
        cfg = copy.deepcopy(cfg)
        dropped = cfg.get('pipeline') or []
        cfg['pipeline'] = []
        dataset = DATASETS.build(cfg)
        if dropped:
            names = ', '.join(
                str(t.get('type')) if isinstance(t, dict) else type(t).__name__
                for t in dropped)
            print_log(
                f'StockSegToVICL: the pipeline of the wrapped '
                f'{type(dataset).__name__} ({names}) is not run; records go '
                "through StockSegToVICL's pipeline.",
                logger='current',
                level=logging.INFO)
        return dataset

    def _label_ids(self, names: Sequence[str], source: str) -> List[int]:
        """The chosen classes as mmseg label ids (validated)."""
        ids = []
        for cls in self.wanted_classes:
            if isinstance(cls, str):
                if cls not in names:
                    raise ValueError(
                        f'StockSegToVICL: class {cls!r} is not a class of '
                        f'{source}; its metainfo classes are {list(names)}.')
                label = list(names).index(cls)
            elif isinstance(cls,
                            numbers.Integral) and not isinstance(cls, bool):
                label = int(cls)
                if not 0 <= label < len(names):
                    raise ValueError(
                        f'StockSegToVICL: label id {label} is not a class '
                        f'of {source}, whose {len(names)} classes have the '
                        f'mmseg label ids 0..{len(names) - 1}.')
            else:
                raise TypeError('StockSegToVICL: classes must be class names '
                                f'or mmseg label ids, got {cls!r}.')
            if label in ids:
                raise ValueError(f'StockSegToVICL: class {cls!r} is given '
                                 'twice in classes.')
            ids.append(label)
        return ids

    @staticmethod
    def _fg_value(label: int, name: str, info: dict, source: str) -> int:
        reduce_zero_label = bool(info.get('reduce_zero_label', False))
        label_map = info.get('label_map')
        values = mmseg_raw_values(label, reduce_zero_label, label_map)
        if len(values) != 1:
            raise ValueError(
                f'StockSegToVICL: in {source} (reduce_zero_label='
                f'{reduce_zero_label}, label_map={label_map}), mmseg labels '
                f'{len(values)} mask values {values} as class {name!r} '
                f'(label id {label}); a binary record needs exactly one. '
                'Choose another class or check metainfo/label_map.')
        return values[0]

    def load_data_list(self) -> List[dict]:
        """Build the wrapped dataset and derive the binary records.

        Returns:
            list[dict]: One record per (image, chosen class in its mask),
            in the wrapped dataset's order, then the order of ``classes``.
        """
        if self.dataset is None:
            self.dataset = self._build_source()
        source_ds = self.dataset
        if hasattr(source_ds, 'full_init'):
            source_ds.full_init()
        names = tuple(source_ds.metainfo.get('classes') or ())
        source = f'{type(source_ds).__name__}'
        ann_file = getattr(source_ds, 'ann_file', None)
        if ann_file:
            source += f' (ann_file {ann_file!r})'
        labels = self._label_ids(names, source)
        img_dir = (getattr(source_ds, 'data_prefix', None)
                   or {}).get('img_path')
        img_suffix = getattr(source_ds, 'img_suffix', None)
        backend_args = getattr(source_ds, 'backend_args', None)
        split_file = ann_file if ann_file and osp.isfile(ann_file) else None

        fg_cache: Dict[Tuple, List[int]] = {}
        path_of: Dict[str, str] = {}
        found = {label: 0 for label in labels}
        missing: List[Tuple[int, str, List[int]]] = []
        data_list = []
        user = 'StockSegToVICL'
        for i in range(len(source_ds)):
            info = source_ds.get_data_info(i)
            img_path = str(record_value(info, 'img_path', i, source_ds, user))
            seg_path = str(
                record_value(info, 'seg_map_path', i, source_ds, user))
            key = (bool(info.get('reduce_zero_label', False)),
                   repr(sorted((info.get('label_map') or {}).items())))
            if key not in fg_cache:
                fg_cache[key] = [
                    self._fg_value(label, names[label], info, source)
                    for label in labels
                ]
            fg_values = fg_cache[key]
            context = f'record {i} of {source}'
            mask = read_mask(seg_path, f'{type(source_ds).__name__} mask',
                             backend_args, context)
            if mask.size and int(mask.max()) > 255:
                raise ValueError(
                    f'StockSegToVICL: mask {seg_path!r} ({context}) holds '
                    f'values up to {int(mask.max())}; mmseg reads masks as '
                    'uint8 (values above 255 wrap), so no exact binary '
                    'record can be derived. Convert it to an 8-bit label-id '
                    'PNG.')
            present = [(label, fg) for label, fg in zip(labels, fg_values)
                       if (mask == fg).any()]
            if not present:
                missing.append((i, seg_path, np.unique(mask).tolist()))
                continue
            name = sample_name_of(img_path, img_dir, img_suffix)
            first = path_of.setdefault(name, img_path)
            if first != img_path:
                raise ValueError(
                    f'StockSegToVICL: images {first!r} and {img_path!r} of '
                    f'{source} get the same sample_name {name!r}; the '
                    'retrieval key must identify one image.')
            for label, fg in present:
                found[label] += 1
                data_list.append(
                    dict(
                        img_path=img_path,
                        seg_map_path=seg_path,
                        sample_name=name,
                        class_id=label,
                        class_name=names[label],
                        seg_fg_value=fg,
                        source_idx=i,
                        split_file=split_file))
        self._report(missing, found, names, labels, fg_cache, source,
                     len(source_ds))
        self._metainfo.update(source_ds.metainfo)
        self._metainfo.update(
            vicl_classes=tuple(names[label] for label in labels),
            vicl_label_ids=tuple(labels))
        return data_list

    def _report(self, missing: list, found: Dict[int, int],
                names: Sequence[str], labels: List[int], fg_cache: dict,
                source: str, total: int) -> None:
        """Raise for (or, with ``'skip'``, log) images and classes without
        records."""
        chosen = [names[label] for label in labels]
        values = sorted({v for fgs in fg_cache.values() for v in fgs})
        what = (f'the class(es) {chosen} (mmseg label ids {labels}, mask '
                f'values {values})')
        absent = [names[label] for label in labels if not found[label]]
        skip = self.missing_class == 'skip'
        if missing and not skip:
            i, path, present = missing[0]
            raise ValueError(
                f'StockSegToVICL: {len(missing)} of {total} images of '
                f'{source} have no pixel of {what}, e.g. record {i}, mask '
                f'{path!r}, which holds the values {present}. Every VICL '
                'record must show its class: set missing_class=\'skip\' to '
                'keep only the images that do (the others are dropped and '
                "counted in the log), or list only such images in the "
                "dataset's ann_file.")
        if len(missing) == total:
            raise ValueError(
                f'StockSegToVICL: none of the {total} images of {source} '
                f'has a pixel of {what}; is it the right dataset and class '
                '(mmseg label ids count the classes of its metainfo, '
                'after reduce_zero_label)?')
        if absent and not skip:
            raise ValueError(
                f'StockSegToVICL: no mask of {source} holds the class(es) '
                f'{absent}; remove them from classes (or set '
                "missing_class='skip').")
        if missing:
            print_log(
                f'StockSegToVICL: missing_class=\'skip\': dropped '
                f'{len(missing)} of {total} images of {source} with no '
                f'pixel of {what}; kept {total - len(missing)}.',
                logger='current',
                level=logging.INFO)
        if absent:
            print_log(
                f'StockSegToVICL: no mask of {source} holds the class(es) '
                f'{absent}: they have no record.',
                logger='current',
                level=logging.WARNING)

    def __repr__(self) -> str:
        source = (
            type(self.dataset).__name__ if self.dataset is not None else '?')
        return (f'{self.__class__.__name__}(dataset={source}, '
                f'classes={self.wanted_classes}, '
                f'missing_class={self.missing_class!r}, '
                f"len={len(self) if self._fully_initialized else '?'})")
