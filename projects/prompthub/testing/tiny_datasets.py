"""Tiny on-disk datasets in the real layouts, for tests and demos.

Each ``make_tiny_*`` function writes a few small images into ``root`` in
the folder layout the corresponding dataset class expects and returns a
description of what it wrote (names, class regions, boxes) so that tests
can compute the expected outputs by hand.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

# name, (H, W), [(1-based VOC class, (y0, y1, x0, x1))], Pascal-5i split
TINY_VOC_SEG = (
    ('2007_000032', (24, 32), [(1, (2, 10, 3, 14)),
                               (3, (13, 21, 18, 29))], 'trn'),
    ('2007_000039', (20, 28), [(2, (4, 15, 5, 20))], 'trn'),
    ('2007_000063', (30, 30), [(3, (3, 12, 3, 12)),
                               (8, (16, 27, 15, 27))], 'trn'),
    ('2007_000068', (26, 22), [(5, (5, 14, 4, 12)),
                               (12, (17, 24, 2, 20))], 'trn'),
    ('2007_000121', (24, 24), [(4, (2, 11, 2, 13)),
                               (17, (14, 22, 3, 20))], 'trn'),
    ('2007_000123', (22, 30), [(6, (3, 13, 9, 20)),
                               (15, (15, 20, 2, 27))], 'trn'),
    ('2007_000129', (28, 26), [(19, (2, 9, 2, 22)),
                               (1, (12, 25, 4, 14))], 'trn'),
    ('2007_000033', (24, 30), [(1, (5, 14, 6, 15)),
                               (2, (16, 22, 3, 27))], 'val'),
    ('2007_000042', (26, 26), [(5, (3, 20, 4, 9))], 'val'),
    ('2007_000061', (20, 24), [(10, (2, 12, 1, 11)),
                               (14, (13, 18, 5, 20))], 'val'),
    ('2007_000170', (22, 28), [(20, (9, 22, 19, 28))], 'val'),
)

# name -> [(class name, difficult, (xmin, ymin, xmax, ymax) 1-based incl.)]
TINY_VOC_DET = {
    '2007_000032': [('aeroplane', 0, (3, 4, 10, 9))],  # 0.0625 kept
    '2007_000039': [('bicycle', 0, (1, 1, 20, 15))],  # 0.536 dropped
    '2007_000063': [('bird', 0, (2, 2, 8, 8)),
                    ('cow', 0, (15, 15, 25, 25))],  # two objects
    '2007_000068': [('bottle', 1, (5, 6, 12, 14))],  # difficult, kept
    '2007_000121': [('cat', 0, (2, 2, 13, 11))],  # 0.208 dropped
    '2007_000123': [('person', 0, (10, 4, 20, 13))],  # 0.167 kept
    '2007_000129': [('dog', 0, (4, 5, 14, 16))],  # 0.181 kept
    '2007_000033': [('bird', 0, (6, 6, 15, 14))],  # 0.125 kept
    '2007_000042': [('bottle', 0, (2, 2, 5, 5)),
                    ('person', 1, (10, 10, 20, 20))],  # two objects
    '2007_000061': [('horse', 0, (2, 3, 11, 12))],  # 0.208 dropped
    '2007_000170': [('tvmonitor', 0, (20, 10, 28, 22))],  # 0.190 kept
}
TINY_VOC_DET_SPLITS = {
    'train': [n for n, _, _, s in TINY_VOC_SEG if s == 'trn'],
    'val': [n for n, _, _, s in TINY_VOC_SEG if s == 'val'],
}

# COCO stem, (H, W), [(contiguous id in the mask, (y0, y1, x0, x1))],
# [(fold, original category id)] lines
TINY_COCO = (
    ('COCO_train2014_000000000009', (24, 32), [(40, (2, 10, 3, 14)),
                                               (44, (13, 21, 18, 29))],
     [(0, 44)]),
    ('COCO_train2014_000000000025', (20, 20), [(15, (2, 8, 2, 9)),
                                               (16, (11, 18, 3, 17)),
                                               (5, (2, 9, 12, 19))], [(0, 5),
                                                                      (0, 16)
                                                                      ]),
    ('COCO_train2014_000000000030', (22, 26), [(2, (4, 15, 5, 20))], [(0, 2)]),
    ('COCO_train2014_000000000034', (26, 24), [(9, (3, 20, 4, 15))], [(0, 9)]),
    ('COCO_train2014_000000000036', (20, 22), [(57, (2, 9, 2, 12)),
                                               (63, (11, 18, 3, 20))],
     [(1, 62), (3, 72)]),
    ('COCO_train2014_000000000042', (24, 20), [(1, (3, 20, 2, 15))], [(2, 1)]),
)


def _rng_image(rng: np.random.Generator, hw: Tuple[int, int]) -> np.ndarray:
    """A smooth random colour image (JPEG-friendly)."""
    h, w = hw
    base = rng.integers(0, 256, size=(2, 2, 3)).astype(np.float32)
    ys = np.linspace(0, 1, h)[:, None, None]
    xs = np.linspace(0, 1, w)[None, :, None]
    img = (
        base[0, 0] * (1 - ys) * (1 - xs) + base[0, 1] * (1 - ys) * xs +
        base[1, 0] * ys * (1 - xs) + base[1, 1] * ys * xs)
    return img.clip(0, 255).astype(np.uint8)


def _label_mask(hw: Tuple[int, int],
                regions: Sequence[tuple],
                boundary: bool = True) -> np.ndarray:
    """Class-id mask; every region gets a 1-pixel 255 ring around it."""
    mask = np.zeros(hw, dtype=np.uint8)
    for value, (y0, y1, x0, x1) in regions:
        if boundary:
            ring = mask[max(y0 - 1, 0):y1 + 1, max(x0 - 1, 0):x1 + 1]
            ring[ring == 0] = 255
        mask[y0:y1, x0:x1] = value
    return mask


def _write_lines(path: str, lines: Sequence[str], crlf: bool) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as f:
        f.write(''.join(line + ('\r\n' if crlf else '\n') for line in lines))


def _voc_xml(name: str, hw: Tuple[int, int], objects: Sequence) -> str:
    h, w = hw
    objs = ''.join(f'<object><name>{cls}</name><pose>Unspecified</pose>'
                   f'<truncated>0</truncated><difficult>{diff}</difficult>'
                   f'<bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>'
                   f'<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>'
                   for cls, diff, b in objects)
    return (f'<annotation><folder>VOC2012</folder>'
            f'<filename>{name}.jpg</filename><size><width>{w}</width>'
            f'<height>{h}</height><depth>3</depth></size>'
            f'<segmented>0</segmented>{objs}</annotation>')


def make_tiny_voc(root: str, seed: int = 0) -> Dict:
    """Write a tiny VOC 2012 + Pascal-5i layout under ``root``.

    Layout: ``VOC2012/{JPEGImages, SegmentationClassAug, Annotations,
    ImageSets/Main/{train,val}.txt}`` and
    ``splits/pascal/{trn,val}/fold{0-3}.txt`` (trn files with CRLF line
    ends, val files with LF, like the two public copies). Every (image,
    class) pair whose class is in fold ``k`` becomes a line of fold ``k``,
    in image order then class order. Masks alternate between 'L' and
    palette ('P') PNGs.

    Args:
        root (str): Output folder.
        seed (int): Seed of the image colours. Defaults to 0.

    Returns:
        dict: ``images`` (name -> dict(size, regions, split)),
        ``fold_lines`` ((split, fold) -> lines), ``det_objects``
        (``TINY_VOC_DET``) and ``det_splits``.
    """
    rng = np.random.default_rng(seed)
    voc = osp.join(root, 'VOC2012')
    for sub in ('JPEGImages', 'SegmentationClassAug', 'Annotations',
                'ImageSets/Main'):
        os.makedirs(osp.join(voc, sub), exist_ok=True)
    images = {}
    for i, (name, hw, regions, split) in enumerate(TINY_VOC_SEG):
        Image.fromarray(_rng_image(rng, hw)).save(
            osp.join(voc, 'JPEGImages', name + '.jpg'), quality=95)
        mask = Image.fromarray(_label_mask(hw, regions))
        if i % 2:
            mask = mask.convert('P')
        mask.save(osp.join(voc, 'SegmentationClassAug', name + '.png'))
        with open(osp.join(voc, 'Annotations', name + '.xml'), 'w') as f:
            f.write(_voc_xml(name, hw, TINY_VOC_DET[name]))
        images[name] = dict(size=hw, regions=regions, split=split)
    for split, names in TINY_VOC_DET_SPLITS.items():
        _write_lines(
            osp.join(voc, 'ImageSets', 'Main', f'{split}.txt'),
            names,
            crlf=False)
    fold_lines = {}
    for split in ('trn', 'val'):
        for fold in range(4):
            lines = [
                f'{name}__{cls:02d}' for name, _, regions, s in TINY_VOC_SEG
                if s == split for cls in sorted(c for c, _ in regions)
                if (cls - 1) // 5 == fold
            ]
            fold_lines[(split, fold)] = lines
            _write_lines(
                osp.join(root, 'splits', 'pascal', split, f'fold{fold}.txt'),
                lines,
                crlf=split == 'trn')
    return dict(
        images=images,
        fold_lines=fold_lines,
        det_objects=TINY_VOC_DET,
        det_splits=TINY_VOC_DET_SPLITS)


def voc_palette() -> List[int]:
    """The 256-colour palette of the VOC ``SegmentationClass`` PNGs
    (flat ``[r, g, b, ...]``; index 255, the boundary, is (224, 224, 192))."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def make_tiny_voc_stock(root: str, seed: int = 0) -> Dict:
    """Write a tiny VOC 2012 in mmseg's ``PascalVOCDataset`` layout.

    Layout under ``root`` (mmseg's ``data/VOCdevkit/VOC2012``):
    ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` (palette PNGs with
    the VOC palette whose indices are the label ids: 0 background, 1-20
    the VOC classes, 255 a 1-pixel boundary ring, like the real masks) and
    ``ImageSets/Segmentation/{train,val}.txt``. Images and regions are
    those of :data:`TINY_VOC_SEG` (its 1-based VOC class is the mask
    value); its ``'trn'`` images form ``train``.

    Args:
        root (str): Output folder.
        seed (int): Seed of the image colours. Defaults to 0.

    Returns:
        dict: ``images`` (name -> dict(size, regions, split)) and
        ``splits`` (``'train'``/``'val'`` -> names in file order).
    """
    rng = np.random.default_rng(seed)
    for sub in ('JPEGImages', 'SegmentationClass'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    palette = voc_palette()
    images = {}
    splits: Dict[str, List[str]] = dict(train=[], val=[])
    for name, hw, regions, split in TINY_VOC_SEG:
        split = 'train' if split == 'trn' else split
        Image.fromarray(_rng_image(rng, hw)).save(
            osp.join(root, 'JPEGImages', name + '.jpg'), quality=95)
        mask = Image.fromarray(_label_mask(hw, regions), 'L').convert('P')
        mask.putpalette(palette)
        mask.save(osp.join(root, 'SegmentationClass', name + '.png'))
        images[name] = dict(size=hw, regions=regions, split=split)
        splits[split].append(name)
    for split, names in splits.items():
        _write_lines(
            osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'),
            names,
            crlf=False)
    return dict(images=images, splits=splits)


def make_tiny_coco(root: str, seed: int = 1) -> Dict:
    """Write a tiny COCO-20i layout (reference folder names) under ``root``.

    Layout: ``trn2014/<stem>.jpg``, ``Coco_Trainlabel/<stem>.png`` (masks
    with contiguous ids 1..80) and ``split/coco/trn/fold{0-3}.txt`` (lines
    ``<stem>.jpg__CC`` with CC the original COCO id).

    Args:
        root (str): Output folder.
        seed (int): Seed of the image colours. Defaults to 1.

    Returns:
        dict: ``images`` (stem -> dict(size, regions)) and ``fold_lines``
        (fold -> lines).
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'trn2014'), exist_ok=True)
    os.makedirs(osp.join(root, 'Coco_Trainlabel'), exist_ok=True)
    images = {}
    fold_lines: Dict[int, List[str]] = {k: [] for k in range(4)}
    for stem, hw, regions, lines in TINY_COCO:
        Image.fromarray(_rng_image(rng, hw)).save(
            osp.join(root, 'trn2014', stem + '.jpg'), quality=95)
        Image.fromarray(_label_mask(hw, regions, boundary=False)).save(
            osp.join(root, 'Coco_Trainlabel', stem + '.png'))
        images[stem] = dict(size=hw, regions=regions)
        for fold, cat_id in lines:
            fold_lines[fold].append(f'{stem}.jpg__{cat_id:02d}')
    for fold, lines in fold_lines.items():
        _write_lines(
            osp.join(root, 'split', 'coco', 'trn', f'fold{fold}.txt'),
            lines,
            crlf=False)
    return dict(images=images, fold_lines=fold_lines)


def make_tiny_imagenet(root: str, seed: int = 2) -> Dict:
    """Write tiny ImageNet colourisation folders under ``root``.

    Layout: ``train/<wnid>/<wnid>_<k>.JPEG`` and ``val/*.JPEG`` (colour,
    ImageNet style) plus the reference's prepared folders
    ``train_data``/``train_label`` (``.jpg``) and
    ``test_data``/``test_label`` (``.JPEG``): gray inputs (PIL 'L') and
    colour targets with identical file names.

    Args:
        root (str): Output folder.
        seed (int): Seed of the image colours. Defaults to 2.

    Returns:
        dict: ``train``, ``val``, ``prepared_train``, ``prepared_test``:
        lists of relative file paths.
    """
    rng = np.random.default_rng(seed)
    out: Dict[str, List[str]] = dict(
        train=[], val=[], prepared_train=[], prepared_test=[])

    def save(path: str, img: Image.Image) -> None:
        os.makedirs(osp.dirname(path), exist_ok=True)
        img.save(path, format='JPEG', quality=95)

    for wnid in ('n01440764', 'n01443537'):
        for k in (10026, 10027):
            rel = osp.join(wnid, f'{wnid}_{k}.JPEG')
            save(
                osp.join(root, 'train', rel),
                Image.fromarray(_rng_image(rng, (18, 24))))
            out['train'].append(rel)
    for k in range(1, 4):
        rel = f'ILSVRC2012_val_{k:08d}.JPEG'
        save(
            osp.join(root, 'val', rel),
            Image.fromarray(_rng_image(rng, (20, 16))))
        out['val'].append(rel)
    for split, ext, key in (('train', '.jpg', 'prepared_train'),
                            ('test', '.JPEG', 'prepared_test')):
        for k in range(3):
            rel = f'{split}_img_{k}{ext}'
            color = Image.fromarray(_rng_image(rng, (16, 20)))
            save(osp.join(root, f'{split}_label', rel), color)
            save(osp.join(root, f'{split}_data', rel), color.convert('L'))
            out[key].append(rel)
    return out


def write_reference_json(path: str, lists: Dict[str, Sequence[str]]) -> str:
    """Write a reference-format retrieval file ``{query: [names]}``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump({k: list(v) for k, v in lists.items()}, f)
    return path
