"""A deterministic, download-free VTAB-like suite in the NOAH layout.

Every task is drawn with numpy (32x32 RGB by default) and written as PNG
files plus the four list files of VTAB-1k (see :class:`VTAB1kDataset`).
Related and adversarial pairs exist by construction: ``count4`` (1-4
discs) is related to ``count6`` (1-6 discs), and ``count4_randlabel``
has count4's images with random labels.
"""
import os
import os.path as osp
import zlib
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from .vtab_tasks import VTAB1K_TASKS, vtab_task

Array = np.ndarray


def _canvas(rng: np.random.Generator, size: int) -> Array:
    """A dark, slightly noisy background, float HxWx3 in [0, 1]."""
    base = rng.uniform(0.0, 0.3, size=3)
    noise = rng.normal(0, 0.04, size=(size, size, 3))
    return np.clip(base + noise, 0, 1)


def _colour(rng: np.random.Generator) -> Array:
    col = rng.uniform(0.3, 1.0, size=3)
    col[rng.integers(3)] = 1.0
    return col


def _grid(size: int) -> Tuple[Array, Array]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return yy + 0.5, xx + 0.5


def _disc(img: Array, cy: float, cx: float, r: float, col: Array) -> None:
    yy, xx = _grid(img.shape[0])
    img[(yy - cy)**2 + (xx - cx)**2 <= r * r] = col


def _count(rng, size: int, max_count: int) -> Tuple[Array, int]:
    img = _canvas(rng, size)
    k = int(rng.integers(1, max_count + 1))
    centres = []
    while len(centres) < k:
        c = rng.uniform(4, size - 4, size=2)
        if all(np.hypot(*(c - o)) > 7 for o in centres):
            centres.append(c)
    col = _colour(rng)
    for cy, cx in centres:
        _disc(img, cy, cx, rng.uniform(2.0, 3.0), col)
    return img, k - 1


def _stripes(rng, size: int, angle: float, freq: float) -> Array:
    yy, xx = _grid(size)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * freq *
                  (xx * np.cos(angle) + yy * np.sin(angle)) / size + phase)
    c1, c2 = _colour(rng), rng.uniform(0, 0.3, size=3)
    mix = (wave[..., None] > 0).astype(np.float64)
    img = mix * c1 + (1 - mix) * c2
    return np.clip(img + rng.normal(0, 0.04, img.shape), 0, 1)


def _stripe_ori(rng, size):
    label = int(rng.integers(4))
    angle = label * np.pi / 4 + rng.normal(0, 0.05)
    return _stripes(rng, size, angle, rng.uniform(3, 5)), label


def _stripe_freq(rng, size):
    label = int(rng.integers(4))
    freq = (2, 4, 6, 9)[label] * rng.uniform(0.9, 1.1)
    return _stripes(rng, size, rng.uniform(0, np.pi), freq), label


def _loc_x(rng, size):
    img = _canvas(rng, size)
    label = int(rng.integers(4))
    width = size / 4
    cx = rng.uniform(label * width + 2, (label + 1) * width - 2)
    cy = rng.uniform(3, size - 3)
    half = 2.5
    yy, xx = _grid(size)
    img[(abs(yy - cy) <= half) & (abs(xx - cx) <= half)] = _colour(rng)
    return img, label


def _rotated_mask(size, cy, cx, angle, shape) -> Array:
    yy, xx = _grid(size)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if shape == 'bar':
        return (abs(u) <= 7) & (abs(v) <= 1.5)
    # isosceles triangle pointing along +u
    return (u >= -5) & (u <= 6) & (abs(v) <= (6 - u) * 0.5)


def _bar_ori(rng, size):
    img = _canvas(rng, size)
    label = int(rng.integers(4))
    angle = label * np.pi / 4 + rng.normal(0, 0.08)
    cy, cx = rng.uniform(10, size - 10, size=2)
    img[_rotated_mask(size, cy, cx, angle, 'bar')] = _colour(rng)
    return img, label


def _tri_ori(rng, size):
    img = _canvas(rng, size)
    label = int(rng.integers(4))
    angle = label * np.pi / 2 + rng.normal(0, 0.1)
    cy, cx = rng.uniform(9, size - 9, size=2)
    img[_rotated_mask(size, cy, cx, angle, 'tri')] = _colour(rng)
    return img, label


def _size_bin(rng, size):
    img = _canvas(rng, size)
    label = int(rng.integers(4))
    r = (2.5, 4.5, 6.5, 9.0)[label] * rng.uniform(0.9, 1.1)
    cy, cx = rng.uniform(r + 1, size - r - 1, size=2)
    _disc(img, cy, cx, r, _colour(rng))
    return img, label


def _upstream(rng, size):
    """Mixed upstream task: shape (3), colour (4), y-bin (4), texture (3).

    Label = family offset + class (14 classes); used to pretrain the tiny
    backbone, never as a source or a target.
    """
    family = int(rng.integers(4))
    img = _canvas(rng, size)
    cy, cx = rng.uniform(9, size - 9, size=2)
    if family == 0:
        label = int(rng.integers(3))
        col = _colour(rng)
        if label == 0:
            _disc(img, cy, cx, 5, col)
        else:
            shape = 'bar' if label == 1 else 'tri'
            img[_rotated_mask(size, cy, cx, rng.uniform(0, 2 * np.pi),
                              shape)] = col
        return img, label
    if family == 1:
        label = int(rng.integers(4))
        col = np.eye(3)[label % 3] * 0.9 + 0.05
        if label == 3:
            col = np.array([0.95, 0.95, 0.2])
        _disc(img, cy, cx, rng.uniform(3, 7), col)
        return img, 3 + label
    if family == 2:
        label = int(rng.integers(4))
        cy = rng.uniform(label * size / 4 + 2, (label + 1) * size / 4 - 2)
        _disc(img, cy, cx, 2.5, _colour(rng))
        return img, 7 + label
    label = int(rng.integers(3))
    if label == 0:
        img = _stripes(rng, size, rng.uniform(0, np.pi), 4)
    elif label == 1:
        yy, xx = _grid(size)
        check = ((yy // 4 + xx // 4) % 2)[..., None]
        img = check * _colour(rng) + (1 - check) * 0.1
    else:
        img = np.clip(rng.uniform(0, 1, (size, size, 3)), 0, 1)
    return img, 11 + label


def _make(fn: Callable, **kwargs) -> Callable:
    return lambda rng, size: fn(rng, size, **kwargs)


#: name -> (generator(rng, size) -> (float HxWx3 image, label), classes,
#: whether labels are replaced by random ones).
TASK_GENERATORS: Dict[str, Tuple[Callable, int, bool]] = {
    'count4': (_make(_count, max_count=4), 4, False),
    'count6': (_make(_count, max_count=6), 6, False),
    'count4_randlabel': (_make(_count, max_count=4), 4, True),
    'stripe_ori': (_stripe_ori, 4, False),
    'stripe_freq': (_stripe_freq, 4, False),
    'loc_x': (_loc_x, 4, False),
    'bar_ori': (_bar_ori, 4, False),
    'tri_ori': (_tri_ori, 4, False),
    'size_bin': (_size_bin, 4, False),
    'upstream': (_upstream, 14, False),
}


def write_vtab_task(root: str,
                    task: str,
                    num_train: int = 800,
                    num_val: int = 200,
                    num_test: int = 1000,
                    size: int = 32,
                    seed: int = 0) -> str:
    """Write one task in the NOAH VTAB-1k layout.

    ``train800val200`` holds copies of the train800 and val200 images,
    as in NOAH's script. The split sizes can be changed (the folder names
    stay those of VTAB-1k).

    Returns:
        str: The task folder.
    """
    if task not in TASK_GENERATORS:
        raise KeyError(f'Unknown task {task!r}; known: '
                       f'{sorted(TASK_GENERATORS)}')
    fn, num_classes, random_labels = TASK_GENERATORS[task]
    return _write_task(root, task, fn, num_classes, random_labels, num_train,
                       num_val, num_test, size, seed)


def _write_task(root: str, task: str, fn: Callable, num_classes: int,
                random_labels: bool, num_train: int, num_val: int,
                num_test: int, size: int, seed: int) -> str:
    """Draw one task's images and write its NOAH folder."""
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])
    total = num_train + num_val + num_test
    imgs, labels = [], []
    for _ in range(total):
        img, label = fn(rng, size)
        imgs.append((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
        labels.append(label)
    if random_labels:
        labels = list(rng.integers(num_classes, size=total))
    task_dir = osp.join(root, task)
    parts = dict(
        train800=range(0, num_train),
        val200=range(num_train, num_train + num_val),
        test=range(num_train + num_val, total))
    parts['train800val200'] = range(0, num_train + num_val)
    for split, ids in parts.items():
        img_dir = osp.join(task_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        lines = []
        for j, i in enumerate(ids):
            name = f'{j:06d}.png'
            Image.fromarray(imgs[i]).save(osp.join(img_dir, name))
            lines.append(f'images/{split}/{name} {int(labels[i])}')
        with open(osp.join(task_dir, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return task_dir


def make_vtab_suite(root: str,
                    tasks: Optional[Sequence[str]] = None,
                    seed: int = 0,
                    **kwargs) -> Dict[str, str]:
    """Write several tasks; returns ``{task: folder}``.

    Args:
        root (str): Output root (``<root>/<task>/...``).
        tasks (Sequence[str], optional): Defaults to every task.
        seed (int): Suite seed.
        **kwargs: Split sizes and image size for :func:`write_vtab_task`.
    """
    tasks = list(tasks or TASK_GENERATORS)
    return {t: write_vtab_task(root, t, seed=seed, **kwargs) for t in tasks}


def _hue_class(rng: np.random.Generator, size: int,
               num_classes: int) -> Tuple[Array, int]:
    """A noisy disc whose hue codes the class (a learnable stand-in)."""
    label = int(rng.integers(num_classes))
    hue = 2 * np.pi * label / num_classes
    col = 0.5 + 0.45 * np.cos(hue -
                              np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]))
    img = _canvas(rng, size)
    _disc(img, *rng.uniform(size / 3, 2 * size / 3, size=2), size / 4, col)
    return img, label


def make_fake_vtab1k(root: str,
                     tasks: Optional[Sequence[str]] = None,
                     seed: int = 0,
                     **kwargs) -> Dict[str, str]:
    """Write a fake VTAB-1k tree: the real task names and class counts
    (:mod:`.vtab_tasks`) with drawn images, in the NOAH layout.

    It lets the VTAB-1k configs, the protocol and the aggregator run end to
    end without the data (the numbers mean nothing).

    Args:
        root (str): Output root (``<root>/<task>/...``).
        tasks (Sequence[str], optional): VTAB-1k task names; default all 19.
        seed (int): Seed of the drawing.
        **kwargs: Split sizes and image size, as :func:`write_vtab_task`.
    """
    sizes = dict(num_train=800, num_val=200, num_test=1000, size=32)
    sizes.update(kwargs)
    out = {}
    for name in tasks or list(VTAB1K_TASKS):
        classes = vtab_task(name).num_classes
        out[name] = _write_task(
            root,
            name,
            _make(_hue_class, num_classes=classes),
            classes,
            False,
            seed=seed,
            **sizes)
    return out
