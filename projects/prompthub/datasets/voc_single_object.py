"""Pascal VOC 2012 single-object detection as box-mask pairs."""
import os.path as osp
import xml.etree.ElementTree as ET
from typing import List

from mmengine.dataset import BaseDataset

from projects.prompthub.registry import DATASETS
from .pascal5i import VOC_CLASSES
from .split_files import check_dir, check_files_exist, read_split_lines

VOC_DET_HINT = (
    'VOC single-object detection needs the VOC 2012 trainval release '
    '(VOCtrainval_11-May-2012.tar) with <data_root>/VOC2012/JPEGImages, '
    '<data_root>/VOC2012/Annotations and '
    '<data_root>/VOC2012/ImageSets/Main/{train,val}.txt.')


def _xml_number(node: ET.Element, tag: str, xml_path: str) -> float:
    child = node.find(tag)
    if child is None or child.text is None:
        raise ValueError(f'VOC annotation {xml_path!r} has no <{tag}>.')
    try:
        return float(child.text)
    except ValueError:
        raise ValueError(f'VOC annotation {xml_path!r}: <{tag}> is not a '
                         f'number ({child.text!r}).') from None


def parse_voc_objects(xml_path: str) -> dict:
    """Parse the size and the objects of one VOC annotation file.

    Boxes follow the reference (and torchvision's VOC convention): the
    1-based inclusive corners become ``(xmin - 1, ymin - 1, xmax, ymax)``
    in float pixel coordinates, so that a box spanning the whole image is
    ``(0, 0, W, H)``; its area is the area of that float box.

    Args:
        xml_path (str): Annotation file.

    Returns:
        dict: ``width``, ``height`` (from ``<size>``) and ``objects``, a
        list of dicts with ``name``, ``difficult`` and ``bbox`` (floats).
    """
    try:
        root = ET.parse(xml_path).getroot()
    except FileNotFoundError:
        raise FileNotFoundError(f'VOC annotation not found: {xml_path!r}. '
                                f'{VOC_DET_HINT}') from None
    except ET.ParseError as err:
        raise ValueError(
            f'VOC annotation {xml_path!r} is not valid XML: {err}') from None
    size = root.find('size')
    if size is None:
        raise ValueError(f'VOC annotation {xml_path!r} has no <size>.')
    objects = []
    for obj in root.findall('object'):
        name_node = obj.find('name')
        box = obj.find('bndbox')
        if name_node is None or box is None:
            raise ValueError(f'VOC annotation {xml_path!r} has an <object> '
                             'without <name> or <bndbox>.')
        difficult = obj.find('difficult')
        objects.append(
            dict(
                name=name_node.text.strip(),
                difficult=int(difficult.text)
                if difficult is not None and difficult.text else 0,
                bbox=[
                    _xml_number(box, 'xmin', xml_path) - 1.0,
                    _xml_number(box, 'ymin', xml_path) - 1.0,
                    _xml_number(box, 'xmax', xml_path),
                    _xml_number(box, 'ymax', xml_path)
                ]))
    return dict(
        width=int(_xml_number(size, 'width', xml_path)),
        height=int(_xml_number(size, 'height', xml_path)),
        objects=objects)


@DATASETS.register_module()
class VOCSingleObjectDataset(BaseDataset):
    """VOC 2012 images with one small object, for box-mask prediction.

    The images of ``ImageSets/Main/{split}.txt`` are kept when their
    annotation has **exactly one** object (difficult objects count) whose
    box covers less than ``max_area_ratio`` of the image (the reference
    filter, applied to both splits, in train and test mode). The label
    image, drawn by ``LoadVICLPair(task='detection')``, is a black image of
    the original size with the box ``int(xmin - 1), int(ymin - 1),
    int(xmax), int(ymax)`` filled white (end-exclusive slices).

    The XML is parsed with ElementTree rather than mmdet's ``VOCDataset``:
    mmdet shifts all four corners by one pixel (the reference shifts only
    ``xmin``/``ymin``) and truncates them to int first, and its dataset
    machinery (instances, ignore flags, proposals) is not used here.

    Records hold ``img_path``, ``sample_name`` (the image id, e.g.
    ``2008_000008``), ``bbox`` (``[x0, y0, x1, y1]`` ints, the filled
    region), ``bbox_float``, ``bbox_label`` (0-based VOC class), ``class_id``
    (same), ``difficult``, ``width``, ``height``, ``num_objects``,
    ``area_ratio`` and ``xml_path``.

    Args:
        split (str): ``'train'`` or ``'val'`` (or any ``ImageSets/Main``
            list name). Defaults to ``'train'``.
        ann_file (str): Image-id list. Defaults to
            ``VOC2012/ImageSets/Main/{split}.txt`` (relative to
            ``data_root``).
        data_prefix (dict): ``img_path`` and ``ann_path`` folders. Defaults
            to ``dict(img_path='VOC2012/JPEGImages',
            ann_path='VOC2012/Annotations')``.
        single_object (bool): Keep only images with exactly one object.
            Defaults to True.
        max_area_ratio (float, optional): Keep only images whose (first)
            box covers less than this fraction of the image; None keeps
            every size. Defaults to 0.2.
        check_files (bool): Check at initialisation that every kept image
            exists. Defaults to True.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(classes=VOC_CLASSES, task='detection')

    def __init__(self,
                 split: str = 'train',
                 ann_file: str = '',
                 data_prefix: dict = dict(
                     img_path='VOC2012/JPEGImages',
                     ann_path='VOC2012/Annotations'),
                 single_object: bool = True,
                 max_area_ratio: float = 0.2,
                 check_files: bool = True,
                 **kwargs) -> None:
        self.split = split
        self.single_object = single_object
        self.max_area_ratio = max_area_ratio
        self.check_files = check_files
        if not ann_file:
            ann_file = osp.join('VOC2012', 'ImageSets', 'Main', f'{split}.txt')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse every listed annotation (filtering is in ``filter_data``).

        Returns:
            list[dict]: One record per listed image with at least one
            object.
        """
        if self.data_root is not None:
            check_dir(self.data_root, 'VOC data root', VOC_DET_HINT)
        img_dir = self.data_prefix['img_path']
        ann_dir = self.data_prefix['ann_path']
        check_dir(ann_dir, 'VOC annotation folder', VOC_DET_HINT)
        ids = read_split_lines(self.ann_file, f'VOC {self.split} image list',
                               VOC_DET_HINT)
        data_list = []
        for lineno, img_id in ids:
            xml_path = osp.join(ann_dir, img_id + '.xml')
            ann = parse_voc_objects(xml_path)
            objects = ann['objects']
            if not objects:
                continue
            first = objects[0]
            if first['name'] not in VOC_CLASSES:
                raise ValueError(f'VOC annotation {xml_path!r}: unknown '
                                 f"class {first['name']!r}.")
            x0, y0, x1, y1 = first['bbox']
            class_id = VOC_CLASSES.index(first['name'])
            data_list.append(
                dict(
                    img_path=osp.join(img_dir, img_id + '.jpg'),
                    sample_name=img_id,
                    split_file=self.ann_file,
                    split_line=lineno,
                    xml_path=xml_path,
                    width=ann['width'],
                    height=ann['height'],
                    num_objects=len(objects),
                    area_ratio=(x1 - x0) * (y1 - y0) /
                    (ann['width'] * ann['height']),
                    bbox_float=first['bbox'],
                    # int() truncates like the reference's astype(int).
                    bbox=[int(v) for v in first['bbox']],
                    bbox_label=class_id,
                    class_id=class_id,
                    difficult=first['difficult']))
        return data_list

    def filter_data(self) -> List[dict]:
        """Keep single, small objects (in test mode too, as the reference).

        Returns:
            list[dict]: The kept records.
        """
        kept = [
            d for d in self.data_list
            if (not self.single_object or d['num_objects'] == 1) and (
                self.max_area_ratio is None
                or d['area_ratio'] < self.max_area_ratio)
        ]
        if self.check_files:
            check_dir(self.data_prefix['img_path'], 'VOC image folder',
                      VOC_DET_HINT)
            check_files_exist((d['img_path'] for d in kept), 'VOC image',
                              VOC_DET_HINT)
        return kept
