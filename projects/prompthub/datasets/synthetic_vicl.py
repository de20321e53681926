"""Deterministic synthetic VICL data that needs no download."""
import copy
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.dataset import BaseDataset

from projects.prompthub.registry import DATASETS
from projects.prompthub.utils.config_references import unresolved_hint
from projects.prompthub.utils.validation import check_count

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
    img = np.clip(base + rng.normal(0, 25, size=(size, size, 3)), 0, 255)
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


class RenderedVICLDataset(BaseDataset):
    """Base of the VICL datasets rendered on the fly from
    ``(seed, index, slot)``: no files, the same data on every machine.

    Sample ``i`` is a query of class ``query_classes[i % len]`` (slot 0)
    plus ``num_prompts`` prompt pairs (slots 1..K) of
    :meth:`prompt_class`; subclasses implement :meth:`render`.

    Args:
        num_samples (int): Number of queries, >= 1.
        num_prompts (int): Prompt pairs per query, >= 1.
        pipeline (list): Transforms applied to the results dict.
        test_mode (bool): Defaults to False.
        lazy_init (bool): Defaults to False.
    """

    METAINFO = dict(classes=('background', 'foreground'))
    #: Keys of a rendered pair that the query / the prompts do not keep.
    QUERY_DROP_KEYS: Sequence[str] = ()
    PROMPT_DROP_KEYS: Sequence[str] = ()

    def __init__(self, num_samples: int, num_prompts: int, pipeline: Sequence,
                 test_mode: bool, lazy_init: bool) -> None:
        owner = self.__class__.__name__
        # 0 or a negative count would render no prompts (or no queries)
        # instead of failing.
        self.num_samples = check_count(num_samples, 'num_samples', owner)
        self.num_prompts = check_count(num_prompts, 'num_prompts', owner)
        super().__init__(
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=False)

    def record_prefixes(self) -> Tuple[str, str]:
        """``(sample_name prefix, img_path prefix)`` of the records."""
        raise NotImplementedError

    def query_classes(self) -> List[int]:
        """Classes the queries cycle through."""
        raise NotImplementedError

    def render(self, idx: int, slot: int, class_id: int) -> dict:
        """Render pair ``slot`` (0 = query) of sample ``idx``."""
        raise NotImplementedError

    def prompt_class(self, idx: int, class_id: int) -> int:
        """Class of the prompts of sample ``idx`` (the query's)."""
        return class_id

    def load_data_list(self) -> List[dict]:
        """One record per query: its index, name and class."""
        name, path = self.record_prefixes()
        classes = self.query_classes()
        return [
            dict(
                sample_idx=i,
                sample_name=f'{name}_{i:06d}',
                img_path=f'{path}/{i}',
                class_id=classes[i % len(classes)])
            for i in range(self.num_samples)
        ]

    def prepare_data(self, idx: int) -> dict:
        """Render the query (slot 0) and its prompts, then the pipeline."""
        info = copy.deepcopy(self.get_data_info(idx))
        query = self.render(idx, 0, info['class_id'])
        for key in self.QUERY_DROP_KEYS:
            query.pop(key)
        results = dict(info, **query)
        results['img_path'] = info['img_path']
        prompt_cls = self.prompt_class(idx, info['class_id'])
        results['prompt_results'] = []
        for slot in range(1, self.num_prompts + 1):
            prompt = self.render(idx, slot, prompt_cls)
            for key in self.PROMPT_DROP_KEYS:
                prompt.pop(key)
            results['prompt_results'].append(prompt)
        results['prompt_indices'] = [-1] * self.num_prompts
        return self.pipeline(results)


@DATASETS.register_module()
class SyntheticVICLDataset(RenderedVICLDataset):
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
        self.cell_size = cell_size
        self.shape_classes = list(range(len(SHAPES))) if classes is None \
            else list(classes)
        bad = [c for c in self.shape_classes if not 0 <= c < len(SHAPES)]
        if bad:
            raise ValueError(f'classes {bad} out of range 0..{len(SHAPES)-1}')
        self.num_distractors = num_distractors
        self.seed = seed
        super().__init__(num_samples, num_prompts, pipeline, test_mode,
                         lazy_init)

    def record_prefixes(self) -> Tuple[str, str]:
        return f'synthetic_{self.seed}', f'synthetic://{self.seed}'

    def query_classes(self) -> List[int]:
        return self.shape_classes

    def render(self, idx: int, slot: int, class_id: int) -> dict:
        """Render pair ``slot`` (0 = query) of sample ``idx``."""
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


# ---------------------------------------------------------------------------
# Look-alike objects whose class is their colour (the CPU demo's data).
# ---------------------------------------------------------------------------
#: Number of colour classes of :class:`LookalikeVICLDataset`.
NUM_LOOKALIKE_CLASSES = 12
#: Object outlines; every class uses all of them, so shape is no cue.
LOOKALIKE_SHAPES = ('circle', 'square', 'triangle', 'diamond')


def lookalike_hue(class_id: int, look: int) -> float:
    """Hue in degrees of one look of a class.

    Class ``k`` has two looks, as real classes have several appearances:
    look 0 at ``30 k`` degrees and look 1 at ``30 k + 195`` degrees, so
    the 24 looks of the 12 classes are 15 degrees apart and the two looks
    of a class are far apart.

    Args:
        class_id (int): In ``[0, NUM_LOOKALIKE_CLASSES)``.
        look (int): 0 or 1.

    Returns:
        float: Hue in [0, 360).
    """
    return float((30 * class_id + 195 * look) % 360)


def lookalike_fold_classes(fold: int) -> List[int]:
    """Held-out classes of a fold (Pascal-5i style, 4 folds of 3)."""
    if fold not in range(4):
        raise ValueError(
            f'fold must be in 0..3, got {fold!r}{unresolved_hint(fold)}')
    return [fold, fold + 4, fold + 8]


def _hsv_to_rgb(hue: float, sat: float, val: float) -> np.ndarray:
    """One HSV colour (degrees, [0, 1], [0, 1]) as float RGB in [0, 255]."""
    hsv = np.array([[[hue / 2.0, sat * 255.0, val * 255.0]]], np.float32)
    hsv = np.clip(hsv, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _draw_outline(mask: np.ndarray, shape: str, center: Sequence[int],
                  radius: int, angle: float) -> None:
    x, y = int(center[0]), int(center[1])
    if shape == 'circle':
        cv2.circle(mask, (x, y), radius, 255, -1)
        return
    corners = {'square': 4, 'triangle': 3, 'diamond': 4}[shape]
    offset = np.pi / 4 if shape == 'square' else 0.0
    t = angle + offset + 2 * np.pi * np.arange(corners) / corners
    scale = 1.25 if shape == 'triangle' else 1.0
    pts = np.stack(
        [x + scale * radius * np.cos(t), y + scale * radius * np.sin(t)],
        axis=1)
    if shape == 'diamond':
        pts[1::2] = np.stack([
            x + 0.6 * radius * np.cos(t[1::2]),
            y + 0.6 * radius * np.sin(t[1::2])
        ],
                             axis=1)
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)


# yapf: disable
def render_lookalike_pair(
        rng: np.random.Generator,
        class_id: int,
        looks: Sequence[int],
        distractor_classes: Sequence[int],
        size: int = 111,
        num_distractors: Sequence[int] = (2, 3)) -> dict:
    # yapf: enable
    """Render one image of look-alike objects and its per-look masks.

    Every object has a random outline, size and rotation; only its hue
    tells its class. The image holds one object of ``class_id`` per entry
    of ``looks`` plus 2-3 distractors of ``distractor_classes`` (random
    looks) on a grey textured background.

    Args:
        rng (np.random.Generator): Source of all randomness.
        class_id (int): Target class.
        looks (Sequence[int]): Looks (0/1) of the target objects.
        distractor_classes (Sequence[int]): Classes distractors come from.
        size (int): Image side. Defaults to 111.
        num_distractors (Sequence[int]): Inclusive range of the number of
            distractors. Defaults to (2, 3).

    Returns:
        dict: ``img`` (HxWx3 uint8 RGB), ``look_masks`` (bool [2, H, W],
        visible pixels of the target objects of each look) and
        ``gt_seg_map`` (uint8 {0, 1}, the union: the class mask).
    """
    base = rng.uniform(70, 190)
    tint = rng.normal(0, 6, size=3)
    img = base + tint + rng.normal(0, 10, size=(size, size, 3))
    for _ in range(int(rng.integers(2, 5))):  # grey clutter lines
        p0 = rng.integers(0, size, 2)
        p1 = rng.integers(0, size, 2)
        shade = float(rng.uniform(40, 220))
        cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1),
                 (shade, shade, shade), int(rng.integers(1, 3)))
    n_dis = int(rng.integers(num_distractors[0], num_distractors[1] + 1))
    dis = [int(c) for c in rng.choice(list(distractor_classes), n_dis)]
    objects = [(class_id, int(lk))
               for lk in looks] + [(c, int(rng.integers(0, 2))) for c in dis]
    order = rng.permutation(len(objects))
    centers: List[np.ndarray] = []
    look_masks = np.zeros((2, size, size), bool)
    owner = np.full((size, size), -1, np.int32)
    for k in order:
        cls, look = objects[k]
        radius = int(rng.integers(9, 15))
        for _ in range(30):  # keep objects apart when possible
            c = rng.integers(radius + 2, size - radius - 2, size=2)
            if all(np.abs(c - o).max() > radius + 14 for o in centers):
                break
        centers.append(c)
        mask = np.zeros((size, size), np.uint8)
        shape = LOOKALIKE_SHAPES[int(rng.integers(len(LOOKALIKE_SHAPES)))]
        _draw_outline(mask, shape, c, radius, float(rng.uniform(0, np.pi)))
        hue = lookalike_hue(cls, look) + rng.uniform(-3, 3)
        colour = _hsv_to_rgb(hue % 360, rng.uniform(0.8, 1.0),
                             rng.uniform(0.8, 1.0))
        on = mask > 0
        img[on] = colour + rng.normal(0, 6, size=(int(on.sum()), 3))
        owner[on] = k
    for k, (cls, look) in enumerate(objects):
        if cls == class_id:
            look_masks[look] |= owner == k
    img = np.clip(img, 0, 255).astype(np.uint8)
    gt = look_masks.any(0).astype(np.uint8)
    return dict(img=img, look_masks=look_masks, gt_seg_map=gt)


def lookalike_looks(rng: np.random.Generator, role: str) -> List[int]:
    """Looks of the target objects of a query or prompt image.

    A query shows both looks of its class half of the time; a prompt
    usually shows one look (85 %), so a single prompt often shows only one
    of the looks the query needs.
    """
    p_both = 0.5 if role == 'query' else 0.15
    if rng.random() < p_both:
        return [0, 1]
    return [int(rng.integers(0, 2))]


def mask_to_label(mask: np.ndarray) -> np.ndarray:
    """{0, 1} or bool HxW mask -> HxWx3 uint8 0/255 label image."""
    return np.repeat(
        (np.asarray(mask) > 0)[..., None] * 255, 3, axis=2).astype(np.uint8)


@DATASETS.register_module()
class LookalikeVICLDataset(RenderedVICLDataset):
    """Few-shot segmentation of look-alike objects (the CPU demo's data).

    Each image holds 3-5 objects of random outline; a class is a colour
    pair (two looks 195 degrees of hue apart), so only the colour tells
    which objects to segment and "segment every object" scores poorly.
    The query shows both looks of its class half of the time while a
    prompt usually shows one, so several prompts beat one. Classes follow
    Pascal-5i-style folds (:func:`lookalike_fold_classes`): ``split='train'``
    draws targets and distractors from the 9 training classes only,
    ``split='test'`` draws targets from the 3 held-out classes and
    distractors from all others. Everything is rendered from
    ``(seed, index, slot)``: no files, the same data on every machine.

    Args:
        num_samples (int): Number of queries. Defaults to 600.
        num_prompts (int): Prompt pairs per query. Defaults to 4.
        fold (int): Held-out fold, 0..3. Defaults to 0.
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        cell_size (int): Image side. Defaults to 111.
        seed (int): Base seed. Defaults to 0.
        wrong_class_prompts (bool): Give prompts of another class of the
            split (for the prompt-reading gate). Defaults to False.
        pipeline (list): Transforms. Defaults to ().
        test_mode (bool): Defaults to False.
        lazy_init (bool): Defaults to False.
    """

    QUERY_DROP_KEYS = ('looks', 'look_masks')
    PROMPT_DROP_KEYS = ('look_masks', )

    def __init__(self,
                 num_samples: int = 600,
                 num_prompts: int = 4,
                 fold: int = 0,
                 split: str = 'train',
                 cell_size: int = 111,
                 seed: int = 0,
                 wrong_class_prompts: bool = False,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split}")
        self.fold = fold
        self.split = split
        self.cell_size = cell_size
        self.seed = seed
        self.wrong_class_prompts = wrong_class_prompts
        held_out = lookalike_fold_classes(fold)
        train = [c for c in range(NUM_LOOKALIKE_CLASSES) if c not in held_out]
        self.target_classes = held_out if split == 'test' else train
        self.distractor_pool = train if split == 'train' else list(
            range(NUM_LOOKALIKE_CLASSES))
        super().__init__(num_samples, num_prompts, pipeline, test_mode,
                         lazy_init)

    def record_prefixes(self) -> Tuple[str, str]:
        tag = f'lookalike_f{self.fold}_{self.split}_{self.seed}'
        return tag, f'synthetic://{tag}'

    def query_classes(self) -> List[int]:
        return self.target_classes

    def render(self, idx: int, slot: int, class_id: int) -> dict:
        """Render pair ``slot`` (0 = query) of sample ``idx``.

        Returns:
            dict: ``img``, ``label_img``, ``gt_seg_map``, ``look_masks``,
            ``looks``, ``class_id``, shapes and ``img_path``.
        """
        rng = np.random.default_rng(
            [self.seed, self.fold,
             int(self.split == 'test'), idx, slot])
        looks = lookalike_looks(rng, 'query' if slot == 0 else 'prompt')
        others = [c for c in self.distractor_pool if c != class_id]
        out = render_lookalike_pair(rng, class_id, looks, others,
                                    self.cell_size)
        size = self.cell_size
        out.update(
            label_img=mask_to_label(out['gt_seg_map']),
            looks=looks,
            class_id=class_id,
            img_shape=(size, size),
            ori_shape=(size, size),
            img_path=f'synthetic://lookalike/{self.seed}/{idx}/{slot}')
        return out

    def prompt_class(self, idx: int, class_id: int) -> int:
        """Class of the prompts of sample ``idx``: its own unless
        ``wrong_class_prompts``, then another class of the split."""
        if not self.wrong_class_prompts:
            return class_id
        others = [c for c in self.target_classes if c != class_id]
        return others[idx % len(others)]
