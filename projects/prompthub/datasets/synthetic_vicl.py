"""Deterministic synthetic VICL data that needs no download."""
import copy
from typing import List, Optional, Sequence

import cv2
import numpy as np
from mmengine.dataset import BaseDataset

from projects.prompthub.registry import DATASETS

SHAPES = ('circle', 'square', 'triangle', 'cross', 'ring', 'bar')


def draw_shape(mask: np.ndarray, shape: str, center: Sequence[int],
               radius: int) -> None:
    """Draw a filled ``shape`` of size ``radius`` into ``mask`` (in place).

    Args:
        mask (np.ndarray): uint8 HxW canvas; drawn pixels become 255.
        shape (str): One of :data:`SHAPES`.
        center (Sequence[int]): (x, y) centre in pixels.
        radius (int): Half the extent of the shape in pixels.
    """
    x, y = int(center[0]), int(center[1])
    r = int(radius)
    if shape == 'circle':
        cv2.circle(mask, (x, y), r, 255, -1)
    elif shape == 'square':
        cv2.rectangle(mask, (x - r, y - r), (x + r, y + r), 255, -1)
    elif shape == 'triangle':
        pts = np.array([[x, y - r], [x - r, y + r], [x + r, y + r]])
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    elif shape == 'cross':
        w = max(r // 3, 1)
        cv2.rectangle(mask, (x - r, y - w), (x + r, y + w), 255, -1)
        cv2.rectangle(mask, (x - w, y - r), (x + w, y + r), 255, -1)
    elif shape == 'ring':
        cv2.circle(mask, (x, y), r, 255, max(r // 3, 1))
    elif shape == 'bar':
        cv2.rectangle(mask, (x - r, y - r // 3), (x + r, y + r // 3), 255, -1)
    else:
        raise ValueError(f'Unknown synthetic shape {shape!r}; choose one of '
                         f'{SHAPES}.')


def render_pair(rng: np.random.Generator, class_id: int, size: int,
                num_distractors: int, num_classes: int) -> tuple:
    """Render one (image, label image) pair of the target class.

    The image shows one object of ``class_id`` and ``num_distractors``
    objects of other classes on a noisy background; the label image is
    the target object's mask, white on black, in three channels.

    Returns:
        tuple: ``img`` and ``label_img`` (HxWx3 uint8 RGB) and
        ``gt_seg_map`` (HxW uint8 in {0, 1}).
    """
    base = rng.integers(0, 256, size=3)
    img = np.clip(
        base + rng.normal(0, 25, size=(size, size, 3)), 0, 255)
    others = [c for c in range(num_classes) if c != class_id]
    classes = [class_id] + list(
        rng.choice(others, size=num_distractors, replace=True))
    target = np.zeros((size, size), np.uint8)
    for k, cls in enumerate(classes):
        mask = np.zeros((size, size), np.uint8)
        radius = int(rng.integers(size // 10, size // 5))
        center = rng.integers(radius, size - radius, size=2)
        draw_shape(mask, SHAPES[cls], center, radius)
        img[mask > 0] = rng.integers(0, 256, size=3)
        if k == 0:
            target = mask
        else:
            target[mask > 0] = 0  # occluded by a later object
    label = np.repeat(target[..., None], 3, axis=2)
    return img.astype(np.uint8), label, (target > 0).astype(np.uint8)


@DATASETS.register_module()
class SyntheticVICLDataset(BaseDataset):
    """Few-shot foreground segmentation of drawn shapes, made on the fly.

    Each sample is a query pair of a shape class plus ``num_prompts``
    prompt pairs of the same class drawn with other random objects. Every
    pair is rendered from ``(seed, split, index)``, so the data is the same
    on every machine and rank without files. The results dict follows the
    sample contract of ``docs/design.md`` (``img``, ``label_img``,
    ``gt_seg_map``, ``prompt_results``) and the pipeline usually only
    packs it (``PackVICLInputs``).

    Args:
        num_samples (int): Number of queries. Defaults to 64.
        num_prompts (int): Prompt pairs per query. Defaults to 1.
        cell_size (int): Side of each rendered image. Defaults to 111.
        classes (Sequence[int], optional): Shape classes (indices into
            :data:`SHAPES`) this split draws from. Defaults to all.
        num_distractors (int): Other objects per image. Defaults to 1.
        seed (int): Base seed of the split. Defaults to 0.
        pipeline (list): Transforms applied to the results dict.
        test_mode (bool): Defaults to False.
        lazy_init (bool): Defaults to False.
    """

    METAINFO = dict(classes=('background', 'foreground'))

    def __init__(self,
                 num_samples: int = 64,
                 num_prompts: int = 1,
                 cell_size: int = 111,
                 classes: Optional[Sequence[int]] = None,
                 num_distractors: int = 1,
                 seed: int = 0,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        self.num_samples = num_samples
        self.num_prompts = num_prompts
        self.cell_size = cell_size
        self.shape_classes = list(range(len(SHAPES))) if classes is None \
            else list(classes)
        bad = [c for c in self.shape_classes if not 0 <= c < len(SHAPES)]
        if bad:
            raise ValueError(f'classes {bad} out of range 0..{len(SHAPES)-1}')
        self.num_distractors = num_distractors
        self.seed = seed
        super().__init__(
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=False)

    def load_data_list(self) -> List[dict]:
        """One record per query: its index, name and shape class."""
        return [
            dict(
                sample_idx=i,
                sample_name=f'synthetic_{self.seed}_{i:06d}',
                img_path=f'synthetic://{self.seed}/{i}',
                class_id=self.shape_classes[i % len(self.shape_classes)])
            for i in range(self.num_samples)
        ]

    def _render(self, idx: int, slot: int, class_id: int) -> dict:
        rng = np.random.default_rng([self.seed, idx, slot])
        img, label, gt = render_pair(rng, class_id, self.cell_size,
                                     self.num_distractors, len(SHAPES))
        return dict(
            img=img,
            label_img=label,
            gt_seg_map=gt,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            img_path=f'synthetic://{self.seed}/{idx}/{slot}')

    def prepare_data(self, idx: int) -> dict:
        """Render the query (slot 0) and its prompts, then run the pipeline."""
        info = copy.deepcopy(self.get_data_info(idx))
        results = dict(info, **self._render(idx, 0, info['class_id']))
        results['img_path'] = info['img_path']
        results['prompt_results'] = [
            self._render(idx, slot, info['class_id'])
            for slot in range(1, self.num_prompts + 1)
        ]
        results['prompt_indices'] = [-1] * self.num_prompts
        return self.pipeline(results)
