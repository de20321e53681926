"""Pascal-5i (VOC 2012 + SBD) as a per-(image, class) binary dataset."""
import os.path as osp
from typing import List

from mmseg.datasets import BaseSegDataset

from projects.prompthub.registry import DATASETS
from projects.prompthub.utils.config_references import unresolved_hint
from .mask_check import warn_if_masks_lack_foreground
from .split_files import (add_feature_fg_values, check_dir,
                          check_image_and_mask_files, read_split_lines,
                          split_line)

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')

NUM_FOLDS = 4
CLASSES_PER_FOLD = 5

PASCAL5I_HINT = (
    'Pascal-5i needs <data_root>/VOC2012/JPEGImages (VOC 2012 trainval), '
    '<data_root>/VOC2012/SegmentationClassAug (the SBD-augmented masks) and '
    'the HSNet/VAT split files <data_root>/splits/pascal/{trn,val}/'
    'fold{0-3}.txt (shipped with amirbar/visual_prompting and InMeMo).')


def fold_class_ids(fold: int) -> List[int]:
    """0-based VOC class ids of a Pascal-5i fold (5k .. 5k+4)."""
    if fold not in range(NUM_FOLDS):
        raise ValueError(f'fold must be one of 0..{NUM_FOLDS - 1}, '
                         f'got {fold!r}{unresolved_hint(fold)}')
    start = fold * CLASSES_PER_FOLD
    return list(range(start, start + CLASSES_PER_FOLD))


@DATASETS.register_module()
class Pascal5iDataset(BaseSegDataset):
    """Pascal-5i: one sample per (image, class) line of a fold split file.

    Lines of ``splits/pascal/{trn,val}/fold{k}.txt`` look like
    ``2007_000033__01`` (image stem, 1-based VOC class). The binary target
    of a sample is the set of pixels of that class in the
    ``SegmentationClassAug`` mask: value ``class_id + 1`` is foreground,
    everything else (other classes, background and the 255 boundary band)
    is background. The loading transform (``LoadVICLPair``) applies this
    rule using the record's ``seg_fg_value``.

    Records hold ``img_path``, ``seg_map_path``, ``class_id`` (0-based VOC
    id), ``seg_fg_value`` (``class_id + 1``) and ``sample_name`` (the image
    stem; the retrieval key, shared by every class of one image).

    Both splits of a fold use the fold's 5 classes (InMeMo protocol), and a
    line whose class is not one of them raises an error.

    Args:
        fold (int): Fold index, 0-3. Defaults to 0.
        split (str): ``'trn'`` or ``'val'``. Defaults to ``'trn'``.
        ann_file (str): Split file. Defaults to
            ``splits/pascal/{split}/fold{fold}.txt`` (relative to
            ``data_root``).
        data_prefix (dict): Image and mask folders. Defaults to
            ``dict(img_path='VOC2012/JPEGImages',
            seg_map_path='VOC2012/SegmentationClassAug')``.
        check_files (bool): Check at initialisation that every image and
            mask exists, so that a missing file fails once with a clear
            message, and warn when most of a few sampled masks lack their
            class (:func:`warn_if_masks_lack_foreground`). Defaults to
            True.
        **kwargs: Other arguments of
            :class:`mmseg.datasets.BaseSegDataset` (``data_root``,
            ``pipeline``, ``test_mode``, ``lazy_init``, ``indices``, ...).
    """

    METAINFO = dict(classes=VOC_CLASSES, task='segmentation')

    def __init__(self,
                 fold: int = 0,
                 split: str = 'trn',
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='VOC2012/JPEGImages',
                     seg_map_path='VOC2012/SegmentationClassAug'),
                 check_files: bool = True,
                 **kwargs) -> None:
        if split not in ('trn', 'val'):
            raise ValueError(f"split must be 'trn' or 'val', got {split!r}")
        self.fold = fold
        self.split = split
        self.fold_classes = fold_class_ids(fold)
        self.check_files = check_files
        if not ann_file:
            ann_file = osp.join('splits', 'pascal', split, f'fold{fold}.txt')
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the fold's split file into one record per line.

        Returns:
            list[dict]: Records, in split-file order.
        """
        if self.data_root is not None:
            check_dir(self.data_root, 'Pascal-5i data root', PASCAL5I_HINT)
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        lines = read_split_lines(self.ann_file,
                                 f'Pascal-5i {self.split} split file',
                                 PASCAL5I_HINT)
        data_list = []
        for lineno, line in lines:
            name, cls = split_line(line, self.ann_file, lineno)
            class_id = int(cls) - 1
            if class_id not in self.fold_classes:
                raise ValueError(
                    f'{self.ann_file}:{lineno}: class {int(cls)} of line '
                    f'{line!r} is not in fold {self.fold} (1-based classes '
                    f'{[c + 1 for c in self.fold_classes]}); is this the '
                    'split file of another fold?')
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, name + self.img_suffix),
                    seg_map_path=osp.join(seg_dir, name + self.seg_map_suffix),
                    class_id=class_id,
                    seg_fg_value=class_id + 1,
                    sample_name=name,
                    split_file=self.ann_file,
                    split_line=lineno,
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[]))
        add_feature_fg_values(data_list)
        if self.check_files:
            check_image_and_mask_files(data_list, img_dir, seg_dir,
                                       'Pascal-5i', PASCAL5I_HINT)
            warn_if_masks_lack_foreground(
                data_list, 'Pascal-5i', 'Pascal-5i masks hold VOC class '
                'ids 1-20 (SegmentationClassAug), not 0/255.',
                self.backend_args)
        return data_list
