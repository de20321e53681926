"""VTAB-1k in the folder layout of the public VPT/NOAH code."""
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement
from PIL import Image

from projects.hgprompt.registry import DATASETS, TRANSFORMS
from projects.prompthub.utils.config_references import unresolved_hint
from projects.prompthub.utils.image_io import read_image
from projects.prompthub.utils.validation import check_choice

VTAB_SPLITS = ('train800', 'val200', 'train800val200', 'test')


@DATASETS.register_module()
class VTAB1kDataset(BaseDataset):
    """One VTAB-1k task in the NOAH layout.

    Layout (``data_root`` is the task folder)::

        <task>/images/{train800,val200,train800val200,test}/000123.jpg
        <task>/{train800,val200,train800val200,test}.txt

    Every list line is ``"images/<split>/<file> <label>"``.

    Args:
        data_root (str): Task folder.
        split (str): One of ``VTAB_SPLITS``; sets ``ann_file`` to
            ``<split>.txt`` unless ``ann_file`` is given.
        ann_file (str): List file relative to ``data_root``.
        num_classes (int, optional): Written to ``metainfo['classes']``
            (default: max label + 1).
        max_samples (int, optional): Keep a random subset of this size
            (few-shot runs).
        subset_seed (int): Seed of that subset (deterministic).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train800val200',
                 ann_file: str = '',
                 num_classes: Optional[int] = None,
                 max_samples: Optional[int] = None,
                 subset_seed: int = 0,
                 **kwargs) -> None:
        check_choice(split, 'split', VTAB_SPLITS, type(self).__name__)
        self.split = split
        self.num_classes = num_classes
        self.max_samples = max_samples
        self.subset_seed = subset_seed
        # A VTAB-1k list is small: sharing it as one serialized buffer
        # (BaseDataset's default) only costs a gc.collect() per build.
        kwargs.setdefault('serialize_data', False)
        super().__init__(
            data_root=data_root, ann_file=ann_file or f'{split}.txt', **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse ``<split>.txt``, checking every line and label."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'VTAB-1k list not found: {self.ann_file} (expected the '
                'NOAH layout, see '
                'projects/hgprompt/tools/make_vtab_suite.py)'
                f'{unresolved_hint(self.data_root)}.')
        data_list = []
        with open(self.ann_file) as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    data_list.append(self._parse_line(line, number))
        if not data_list:
            raise ValueError(
                f'{self.ann_file} lists no image: every line should read '
                f'"images/{self.split}/<file> <label>". Regenerate the '
                'list (NOAH\'s get_vtab1k.py, or '
                'projects/hgprompt/tools/make_vtab_suite.py).')
        if self.max_samples is not None and self.max_samples < len(data_list):
            rng = np.random.default_rng(self.subset_seed)
            keep = np.sort(
                rng.choice(len(data_list), self.max_samples, replace=False))
            data_list = [data_list[i] for i in keep]
        num_classes = self.num_classes or (max(d['gt_label']
                                               for d in data_list) + 1)
        self._metainfo['classes'] = tuple(str(i) for i in range(num_classes))
        return data_list

    def _parse_line(self, line: str, number: int) -> dict:
        """One ``"<path> <label>"`` line; errors name the file and line."""
        where = f'{self.ann_file}, line {number} ({line!r})'
        parts = line.rsplit(' ', 1)
        if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
            raise ValueError(f'{where}: expected "images/{self.split}/'
                             '<file> <integer label>".')
        rel, label = parts[0], int(parts[1])
        if label < 0 or (self.num_classes is not None
                         and label >= self.num_classes):
            raise ValueError(
                f'{where}: label {label} is outside [0, num_classes) with '
                f'num_classes={self.num_classes}. Set num_classes (the '
                'dataset\'s and model.num_classes) to the task\'s class '
                'count; for VTAB-1k see '
                'projects/hgprompt/datasets/vtab_tasks.py.')
        return dict(img_path=osp.join(self.data_root, rel), gt_label=label)


@TRANSFORMS.register_module()
class HGLoadImage:
    """Load an RGB image and resize it (bicubic, as VPT's pipeline).

    Args:
        size (int, optional): Output side; None keeps the file's size.
    """

    def __init__(self, size: Optional[int] = None) -> None:
        self.size = size

    def __call__(self, results: dict) -> dict:
        """Add ``img`` (HxWx3 uint8 RGB)."""
        img = read_image(results['img_path'])  # strict, names bad files
        if self.size is not None and img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.BICUBIC)
        results['img'] = np.asarray(img, dtype=np.uint8)
        results['ori_shape'] = results['img'].shape[:2]
        return results


@TRANSFORMS.register_module()
class HGPackClsInputs:
    """Pack ``img`` and ``gt_label`` for :class:`HGPromptClassifier`.

    Returns ``inputs`` (uint8 ``[3, H, W]``) and a ``BaseDataElement``
    with ``gt_label`` and the metainfo (``img_path``, ``sample_idx``).
    """

    meta_keys = ('img_path', 'sample_idx', 'ori_shape')

    def __call__(self, results: dict) -> dict:
        """Pack one sample."""
        img = torch.from_numpy(
            np.ascontiguousarray(results['img'].transpose(2, 0, 1)))
        sample = BaseDataElement(
            metainfo={k: results[k]
                      for k in self.meta_keys if k in results})
        sample.gt_label = torch.tensor(int(results['gt_label']))
        return dict(inputs=img, data_samples=sample)
