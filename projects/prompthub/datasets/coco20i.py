"""COCO-20i training images restricted to the Pascal-5i fold classes."""
import os.path as osp
from typing import Dict, List

from mmseg.datasets import BaseSegDataset

from projects.prompthub.registry import DATASETS
from .mask_check import warn_if_masks_lack_foreground
from .pascal5i import fold_class_ids
from .split_files import (add_feature_fg_values, check_dir,
                          check_image_and_mask_files, read_split_lines,
                          split_line)

# The 80 COCO category names, in the order of the official category list.
COCO_CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus',
                'train', 'truck', 'boat', 'traffic light', 'fire hydrant',
                'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
                'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra',
                'giraffe', 'backpack', 'umbrella', 'handbag', 'tie',
                'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball',
                'kite', 'baseball bat', 'baseball glove', 'skateboard',
                'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup',
                'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
                'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
                'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
                'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
                'keyboard', 'cell phone', 'microwave', 'oven', 'toaster',
                'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
                'teddy bear', 'hair drier', 'toothbrush')

# Original COCO category ids of those 80 classes (1-90 with 10 gaps).
COCO_CATEGORY_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18,
                     19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35,
                     36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50,
                     51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64,
                     65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82,
                     84, 85, 86, 87, 88, 89, 90)

# original category id -> contiguous id 1..80
COCO_ID_TO_CONTIGUOUS: Dict[int, int] = {
    cat_id: i + 1
    for i, cat_id in enumerate(COCO_CATEGORY_IDS)
}

# Original COCO category id of each VOC class (0-based VOC index order).
VOC_TO_COCO_CATEGORY = (5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1,
                        64, 20, 63, 7, 72)

COCO20I_HINT = (
    'COCO-20i needs the COCO-2014 train images in <data_root>/trn2014, '
    'their semantic masks (PNG, contiguous ids 1..80) in '
    '<data_root>/Coco_Trainlabel and the split files '
    '<data_root>/split/coco/trn/fold{0-3}.txt (lines '
    '"COCO_train2014_XXXXXXXXXXXX.jpg__CC", CC the original COCO id); '
    'the folder names are configurable through data_prefix.')


def coco_fold_category_ids(fold: int) -> List[int]:
    """Original COCO ids of the 5 Pascal classes of a fold, VOC order."""
    return [VOC_TO_COCO_CATEGORY[c] for c in fold_class_ids(fold)]


@DATASETS.register_module()
class Coco20iDataset(BaseSegDataset):
    """COCO-2014 train images of a Pascal-5i fold's 5 classes.

    Used as the training queries and the prompt pool of the
    COCO -> Pascal-5i transfer: the test queries are Pascal-5i val fold
    ``k`` and their prompts are retrieved from this dataset.

    Split-file lines look like ``COCO_train2014_000000000009.jpg__44``:
    the image file name and the **original** COCO category id (1-90, with
    gaps). The mask PNGs in ``Coco_Trainlabel`` hold **contiguous** ids
    1..80 (0 = background), like the reference loaders assume.

    The reference mixes the two numberings: its loaders map the original id
    to the contiguous one before comparing with the mask, but its
    precomputed prompt features compare the mask with the original id
    (wrong for 12 of the 20 classes). We always map original ->
    contiguous with the official COCO category list
    (``COCO_CATEGORY_IDS``) and compare the mask with the contiguous id.
    Set ``mask_ids='original'`` only for masks that store original ids.

    Records hold ``img_path``, ``seg_map_path``, ``sample_name`` (the file
    stem, e.g. ``COCO_train2014_000000000009``; the retrieval key),
    ``class_id`` (0-based contiguous id, an index into ``COCO_CLASSES``),
    ``coco_category_id`` (original id), ``pascal_class_id`` (0-based VOC
    id) and ``seg_fg_value`` (the mask value of the foreground).

    Args:
        fold (int): Fold index, 0-3. Defaults to 0.
        split (str): Split folder of the split files. Defaults to
            ``'trn'`` (the only one the reference uses).
        ann_file (str): Split file. Defaults to
            ``split/coco/{split}/fold{fold}.txt`` (relative to
            ``data_root``).
        data_prefix (dict): Image and mask folders. Defaults to the
            reference loaders' names, ``dict(img_path='trn2014',
            seg_map_path='Coco_Trainlabel')``.
        mask_ids (str): ``'contiguous'`` (masks hold ids 1..80) or
            ``'original'`` (masks hold original COCO ids). Defaults to
            ``'contiguous'``.
        check_files (bool): Check at initialisation that every image and
            mask exists, and warn when most of a few sampled masks lack
            their class. Defaults to True.
        **kwargs: Other arguments of
            :class:`mmseg.datasets.BaseSegDataset`.
    """

    METAINFO = dict(classes=COCO_CLASSES, task='segmentation')

    def __init__(self,
                 fold: int = 0,
                 split: str = 'trn',
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='trn2014', seg_map_path='Coco_Trainlabel'),
                 mask_ids: str = 'contiguous',
                 check_files: bool = True,
                 **kwargs) -> None:
        if mask_ids not in ('contiguous', 'original'):
            raise ValueError("mask_ids must be 'contiguous' or 'original', "
                             f'got {mask_ids!r}')
        self.fold = fold
        self.split = split
        self.fold_category_ids = coco_fold_category_ids(fold)
        self.mask_ids = mask_ids
        self.check_files = check_files
        if not ann_file:
            ann_file = osp.join('split', 'coco', split, f'fold{fold}.txt')
        kwargs.setdefault('img_suffix', '.jpg')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the fold's split file into one record per line.

        Returns:
            list[dict]: Records, in split-file order.
        """
        if self.data_root is not None:
            check_dir(self.data_root, 'COCO-20i data root', COCO20I_HINT)
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        lines = read_split_lines(self.ann_file,
                                 f'COCO-20i {self.split} split file',
                                 COCO20I_HINT)
        data_list = []
        for lineno, line in lines:
            file_name, cls = split_line(line, self.ann_file, lineno)
            cat_id = int(cls)
            if cat_id not in self.fold_category_ids:
                raise ValueError(
                    f'{self.ann_file}:{lineno}: COCO category {cat_id} of '
                    f'line {line!r} is not a Pascal class of fold '
                    f'{self.fold} (original ids {self.fold_category_ids}).')
            contiguous = COCO_ID_TO_CONTIGUOUS[cat_id]
            stem = osp.splitext(file_name)[0]
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, file_name),
                    seg_map_path=osp.join(seg_dir, stem + self.seg_map_suffix),
                    sample_name=stem,
                    split_file=self.ann_file,
                    split_line=lineno,
                    class_id=contiguous - 1,
                    coco_category_id=cat_id,
                    pascal_class_id=VOC_TO_COCO_CATEGORY.index(cat_id),
                    seg_fg_value=(contiguous if self.mask_ids == 'contiguous'
                                  else cat_id),
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[]))
        add_feature_fg_values(data_list)
        if self.check_files:
            check_image_and_mask_files(data_list, img_dir, seg_dir, 'COCO-20i',
                                       COCO20I_HINT)
            warn_if_masks_lack_foreground(
                data_list, 'COCO-20i',
                f'This dataset has mask_ids={self.mask_ids!r}: masks with '
                "original COCO ids (1-90) need mask_ids='original', masks "
                "with contiguous ids (1-80) mask_ids='contiguous'.",
                self.backend_args)
        return data_list
