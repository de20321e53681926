"""Retrieval features: a timm model, its preprocessing and an on-disk store.

The reference retrieves prompts with "pixel-level" CLIP features: the full
token map of timm's ``vit_large_patch14_clip_224.laion2b`` (``[257, 1024]``
from ``forward_features``, flattened, no pooling), images resized to 224 on
the short side (bicubic), centre-cropped to 224 and normalised with the
CLIP mean/std. Those are the defaults here. Weights are read from a local
file only; nothing is downloaded.
"""
import json
import logging
import os
import os.path as osp
import time
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from torchvision import transforms

from projects.prompthub.utils.image_io import read_image
from ..utils.atomic_io import AtomicWriter, atomic_write

DEFAULT_MODEL = 'vit_large_patch14_clip_224.laion2b'
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: The reference's preprocessing (timm's eval transform of the model, with
#: the CLIP statistics its old timm version reported).
DEFAULT_PREPROCESS = dict(
    resize=224,
    crop=224,
    interpolation='bicubic',
    mean=CLIP_MEAN,
    std=CLIP_STD)
FEATURE_TYPES = ('pixel', 'pooled')


def weights_help(model_name: str) -> str:
    """How to obtain the weight file of ``model_name``."""
    msg = (f'Download the checkpoint of the timm / open_clip hub model '
           f'`timm/{model_name}` (e.g. `huggingface-cli download '
           f'timm/{model_name} --local-dir data/weights/{model_name}`)')
    if model_name == DEFAULT_MODEL:
        msg += (' or the open_clip file `open_clip_pytorch_model.bin` of '
                '`laion/CLIP-ViT-L-14-laion2B-s32B-b82K`')
    return msg + ', and set `retrieval.weights` to the local file.'


def load_timm_model(model_name: str = DEFAULT_MODEL,
                    weights: Optional[str] = None,
                    model_kwargs: Optional[dict] = None) -> nn.Module:
    """Create a timm model with weights from a local file, in eval mode.

    timm's own checkpoint filter converts open_clip / OpenAI CLIP files
    (``open_clip_pytorch_model.bin``) as well as timm ones; the load is
    strict.

    Args:
        model_name (str): timm model name (with pretrained tag).
            Defaults to ``vit_large_patch14_clip_224.laion2b``.
        weights (str): Local weight file (``.bin``, ``.pth`` or
            ``.safetensors``).
        model_kwargs (dict, optional): Extra ``timm.create_model`` kwargs,
            e.g. a tiny architecture for tests. Defaults to None.

    Returns:
        nn.Module: The model.

    Raises:
        FileNotFoundError: If ``weights`` is not given or does not exist.
    """
    if not weights or not osp.isfile(weights):
        raise FileNotFoundError(
            f'Retrieval model weights file {weights!r} not found. '
            f'{weights_help(model_name)}')
    model_kwargs = dict(model_kwargs or {})
    # A ``file`` overlay makes timm read this file, never the hub.
    overlay = dict(file=osp.abspath(weights))
    if 'num_classes' in model_kwargs:
        # Otherwise timm silently drops the head weights when num_classes
        # differs from its pretrained config.
        overlay['num_classes'] = model_kwargs['num_classes']
    model = timm.create_model(
        model_name,
        pretrained=True,
        pretrained_cfg_overlay=overlay,
        pretrained_strict=True,
        **model_kwargs)
    return model.eval()


def build_preprocess(resize: Union[int, Sequence[int]] = 224,
                     crop: Union[int, Sequence[int]] = 224,
                     interpolation: str = 'bicubic',
                     mean: Sequence[float] = CLIP_MEAN,
                     std: Sequence[float] = CLIP_STD) -> Callable:
    """The image transform: Resize -> CenterCrop -> ToTensor -> Normalize.

    Args:
        resize (int | Sequence[int]): Short side (int) or (h, w).
            Defaults to 224.
        crop (int | Sequence[int]): Centre crop size. Defaults to 224.
        interpolation (str): torchvision interpolation mode name.
            Defaults to 'bicubic'.
        mean (Sequence[float]): Per-channel mean in [0, 1].
            Defaults to CLIP's.
        std (Sequence[float]): Per-channel std. Defaults to CLIP's.

    Returns:
        Callable: PIL image -> float tensor [3, H, W].
    """
    if not isinstance(resize, int):
        resize = list(resize)
    return transforms.Compose([
        transforms.Resize(
            resize, interpolation=transforms.InterpolationMode(interpolation)),
        transforms.CenterCrop(crop),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])


class _ImageFiles(torch.utils.data.Dataset):
    """Preprocessed images from a list of paths."""

    def __init__(self, paths: Sequence[str], transform: Callable) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        # Strict: a bad file fails by name, 16-bit images are scaled.
        return self.transform(read_image(self.paths[i], 'Retrieval image'))


def store_help(path: str) -> str:
    """How to recover from an unusable feature store at ``path``."""
    return (
        f'Delete {path!r} and {path + ".json"!r}; the next '
        '`python tools/misc/build_retrieval_index.py CONFIG` recomputes them.')


def image_keys(paths: Sequence[str]) -> List[list]:
    """``[path, size, mtime_ns]`` of every image: the identity of a stored
    feature row (an edited image gets a new key and is recomputed).

    Raises:
        FileNotFoundError: If an image cannot be stat-ed; names it.
    """
    keys = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as e:
            raise FileNotFoundError(f'Cannot read image {path!r}: {e}') from e
        keys.append([str(path), st.st_size, st.st_mtime_ns])
    return keys


class FeatureStore:
    """A read-only ``[N, D]`` feature matrix in a ``.npy`` file.

    Rows are read on demand with ``os.pread`` into fresh arrays, so a
    matrix far larger than RAM (82k x 263k) can be streamed without the
    mapped pages inflating the process's resident memory.
    :meth:`as_memmap` gives the same file as an ``np.memmap``. A JSON
    sidecar (``<file>.json``) describes the features, and its presence
    marks a completely written file.

    Args:
        path (str): The ``.npy`` file.

    Raises:
        ValueError: If the file is not a complete 2-D ``.npy`` array
            (e.g. truncated or empty); the message names it and the fix.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path, 'rb') as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    header = np.lib.format.read_array_header_1_0(f)
                else:
                    header = np.lib.format.read_array_header_2_0(f)
                shape, fortran_order, dtype = header
                self.offset = f.tell()
                size = os.fstat(f.fileno()).st_size
        except FileNotFoundError:
            raise
        except Exception as e:  # numpy raises several types on bad bytes
            raise ValueError(f'Feature store {path!r} is corrupt or '
                             f'truncated ({type(e).__name__}: {e}). '
                             f'{store_help(path)}') from e
        if fortran_order or len(shape) != 2:
            raise ValueError(f'{path!r} is not a C-ordered 2-D array. '
                             f'{store_help(path)}')
        self.shape: Tuple[int, int] = tuple(shape)
        self.dtype = np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self._row_bytes
        if size != expected:
            raise ValueError(
                f'Feature store {path!r} has {size} bytes, its header '
                f'announces {expected} ({self.shape[0]} x {self.shape[1]} '
                f'{self.dtype}): it is truncated or corrupt. '
                f'{store_help(path)}')

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, item: Union[int, slice]) -> np.ndarray:
        if isinstance(item, (int, np.integer)):
            item = int(item) % len(self)
            return self[item:item + 1][0]
        start, stop, step = item.indices(len(self))
        if step != 1:
            raise IndexError('FeatureStore supports contiguous slices only')
        out = np.empty((max(stop - start, 0), self.shape[1]), self.dtype)
        view = memoryview(out).cast('B')
        pos = self.offset + start * self._row_bytes
        fd = os.open(self.path, os.O_RDONLY)
        try:
            done = 0
            # One read returns at most ~2 GiB on Linux: loop.
            while done < len(view):
                got = os.preadv(fd, [view[done:]], pos + done)
                if got == 0:
                    raise OSError(f'{self.path!r} is truncated. '
                                  f'{store_help(self.path)}')
                done += got
        finally:
            os.close(fd)
        return out

    def as_memmap(self) -> np.ndarray:
        """The file as a read-only ``np.memmap``."""
        return np.load(self.path, mmap_mode='r')

    @property
    def meta(self) -> Optional[dict]:
        """dict: The sidecar description, None if the file is partial.

        Raises:
            ValueError: If the sidecar is not valid JSON.
        """
        side = self.path + '.json'
        if not osp.isfile(side):
            return None
        try:
            with open(side, encoding='utf-8') as f:
                return json.load(f)
        except ValueError as e:
            raise ValueError(f'Feature store sidecar {side!r} is corrupt '
                             f'({e}). {store_help(self.path)}') from e

    @classmethod
    def open_if_valid(cls, path: str, meta: dict) -> Optional['FeatureStore']:
        """The store at ``path`` if complete and described by ``meta``."""
        if not osp.isfile(path):
            return None
        store = cls(path)
        stored = store.meta
        if stored is None or stored != json.loads(json.dumps(meta)):
            return None
        return store


class FeatureWriter:
    """Write an ``[N, D]`` ``.npy`` file row block by row block.

    The rows go to a temporary file next to ``path``; :meth:`close`
    removes the old sidecar, moves the complete file over ``path``
    (fsync + ``os.replace``) and then writes the new sidecar the same way.
    A run killed at any moment leaves the previous store intact (or, in
    the instant between the two renames, a store without sidecar, which is
    not valid): never half a file, never an old description of new rows.

    Args:
        path (str): Final ``.npy`` path.
        shape (tuple[int, int]): (N, D).
        dtype (np.dtype): Stored dtype.
    """

    def __init__(self, path: str, shape: Tuple[int, int], dtype) -> None:
        self.path = path
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._out = AtomicWriter(path)
        np.lib.format.write_array_header_1_0(
            self._out.file,
            dict(
                descr=np.lib.format.dtype_to_descr(self.dtype),
                fortran_order=False,
                shape=self.shape))

    def write(self, rows: np.ndarray) -> None:
        """Append rows [n, D]."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.ndim != 2 or rows.shape[1] != self.shape[1]:
            raise ValueError(f'expected rows of width {self.shape[1]}, got '
                             f'{rows.shape}')
        if self.rows + len(rows) > self.shape[0]:
            raise ValueError('more rows than declared')
        self._out.write(rows.tobytes())
        self.rows += len(rows)

    def abort(self) -> None:
        """Drop the unfinished file; ``path`` is left as it was."""
        self._out.abort()

    def close(self, meta: dict) -> FeatureStore:
        """Finish the file, write the sidecar and open it for reading."""
        if self.rows != self.shape[0]:
            self.abort()
            raise ValueError(f'{self.rows} rows written, {self.shape[0]} '
                             'declared')
        side = self.path + '.json'
        # The old description must never sit next to the new rows.
        if osp.exists(side):
            os.remove(side)
        self._out.commit()
        atomic_write(side, json.dumps(meta, sort_keys=True))
        return FeatureStore(self.path)


class FeatureExtractor:
    """L2-normalised retrieval features of image files from a timm model.

    Args:
        model (str): timm model name. Defaults to
            ``vit_large_patch14_clip_224.laion2b``.
        weights (str): Local weight file of the model.
        feature (str): ``'pixel'``: the flattened token map of
            ``forward_features`` (the reference's "pixel-level");
            ``'pooled'``: the model's output ``model(x)`` (pooled, through
            the head). Defaults to 'pixel'.
        preprocess (dict, optional): Overrides of
            :data:`DEFAULT_PREPROCESS` (see :func:`build_preprocess`).
        model_kwargs (dict, optional): Extra ``timm.create_model`` kwargs.
        device (str): Where the model runs. Defaults to 'cpu'.
        fp16 (bool): Store features as float16 (halves the store; search
            still computes in float32). Defaults to False.
        batch_size (int): Images per forward. Defaults to 16.
        num_workers (int): Image-loading worker processes. Defaults to 0.
    """

    def __init__(self,
                 model: str = DEFAULT_MODEL,
                 weights: Optional[str] = None,
                 feature: str = 'pixel',
                 preprocess: Optional[dict] = None,
                 model_kwargs: Optional[dict] = None,
                 device: str = 'cpu',
                 fp16: bool = False,
                 batch_size: int = 16,
                 num_workers: int = 0) -> None:
        if feature not in FEATURE_TYPES:
            raise ValueError(f'feature must be one of {FEATURE_TYPES}, got '
                             f'{feature!r}')
        self.model_name = model
        self.weights = weights
        self.feature = feature
        self.preprocess_cfg = dict(DEFAULT_PREPROCESS, **(preprocess or {}))
        self.model_kwargs = dict(model_kwargs or {})
        self.device = torch.device(device)
        self.fp16 = fp16
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.transform = build_preprocess(**self.preprocess_cfg)
        self.net = load_timm_model(model, weights,
                                   self.model_kwargs).to(self.device)
        self.last_stats: dict = {}

    def describe(self) -> dict:
        """Everything that determines the features (JSON-serialisable).

        Only the weight file's *name* is recorded, so moving the weights
        does not invalidate indexes.
        """
        return json.loads(
            json.dumps(
                dict(
                    model=self.model_name,
                    weights=osp.basename(self.weights),
                    model_kwargs=self.model_kwargs,
                    feature=self.feature,
                    preprocess=self.preprocess_cfg,
                    fp16=self.fp16),
                sort_keys=True))

    @torch.inference_mode()
    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        """Features of a preprocessed batch.

        Args:
            imgs (Tensor): [B, 3, H, W] normalised images.

        Returns:
            Tensor: float32 [B, D], unit L2 norm, on the model's device.
        """
        imgs = imgs.to(self.device)
        if self.feature == 'pixel':
            feats = self.net.forward_features(imgs)
        else:
            feats = self.net(imgs)
        return F.normalize(feats.flatten(1).float(), dim=1)

    def _batches(self, img_paths: Sequence[str],
                 progress: bool) -> Iterator[np.ndarray]:
        """Features of ``img_paths`` batch by batch, in order."""
        loader = torch.utils.data.DataLoader(
            _ImageFiles(img_paths, self.transform),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.device.type == 'cuda')
        bar = ProgressBar(len(img_paths)) if progress else None
        for imgs in loader:
            feats = self.forward(imgs).to(
                torch.float16 if self.fp16 else torch.float32).cpu().numpy()
            if bar is not None:
                bar.update(len(feats))
            yield feats
        if bar is not None:
            print()

    def _previous(self, out_file: str) -> Tuple[Optional[FeatureStore], dict]:
        """The store already at ``out_file`` if made with these settings,
        and its rows by image key (empty when nothing is reusable)."""
        if not osp.isfile(out_file + '.json'):
            return None, {}
        try:
            store = FeatureStore(out_file)
            meta = store.meta
        except (OSError, ValueError) as e:
            # A cache: recomputing it is exact, so say so and go on.
            print_log(
                f'{e} Recomputing it.',
                logger='current',
                level=logging.WARNING)
            return None, {}
        if meta is None:
            return None, {}
        meta = dict(meta)
        files = meta.pop('files', None)
        if (files is None or meta != self.describe()
                or len(files) != len(store)):
            return None, {}
        return store, {tuple(key): row for row, key in enumerate(files)}

    def extract(self,
                img_paths: Sequence[str],
                out_file: Optional[str] = None,
                progress: bool = True) -> Union[np.ndarray, FeatureStore]:
        """Features of every image, in order.

        With ``out_file``, a row already stored there is reused when its
        image has the same path, size and modification time (see
        :func:`image_keys`) and the settings (:meth:`describe`) are equal;
        every other image is computed, and the store is rewritten
        atomically. ``last_stats`` counts the ``images`` computed, how many
        of them ``changed`` since they were stored, and the ``reused``
        rows.

        Args:
            img_paths (Sequence[str]): Image files.
            out_file (str, optional): A ``.npy`` store to write (and to
                reuse rows of). Defaults to None (an in-memory array).
            progress (bool): Show an mmengine progress bar.
                Defaults to True.

        Returns:
            np.ndarray | FeatureStore: [N, D] unit-norm features, float16
            if ``fp16`` else float32.
        """
        img_paths = [str(p) for p in img_paths]
        dtype = np.float16 if self.fp16 else np.float32
        start = time.perf_counter()
        if out_file is None:
            chunks = list(self._batches(img_paths, progress))
            self.last_stats = dict(
                images=len(img_paths),
                changed=0,
                reused=0,
                seconds=time.perf_counter() - start,
                cached=False)
            if not chunks:
                return np.zeros((0, 0), dtype)
            return np.concatenate(chunks)
        if not img_paths:
            raise ValueError('no images to extract features from')

        keys = image_keys(img_paths)
        meta = dict(self.describe(), files=keys)
        old, old_rows = self._previous(out_file)
        # Row of the old store to copy, or None: compute.
        source = [old_rows.get(tuple(key)) for key in keys]
        todo = [i for i, row in enumerate(source) if row is None]
        old_paths = {key[0] for key in old_rows}
        changed = sum(keys[i][0] in old_paths for i in todo)
        self.last_stats = dict(
            images=len(todo),
            changed=changed,
            reused=len(keys) - len(todo),
            seconds=0.0,
            cached=not todo)
        if old is not None and source == list(range(len(old))):
            return old

        writer = None
        written = 0

        def copy_reused(stop: int) -> None:
            # Rows [written, stop) all come from the old store: copy them
            # in runs of consecutive old rows (bounded, to bound memory).
            nonlocal written
            while written < stop:
                first, n = source[written], 1
                while (written + n < stop and n < 64
                       and source[written + n] == first + n):
                    n += 1
                writer.write(old[first:first + n])
                written += n

        try:
            done = 0
            for feats in self._batches([img_paths[i] for i in todo], progress
                                       and bool(todo)):
                if writer is None:
                    # The width is known only after the first batch.
                    writer = FeatureWriter(out_file,
                                           (len(keys), feats.shape[1]), dtype)
                for row in feats:
                    copy_reused(todo[done])
                    writer.write(row[None])
                    written += 1
                    done += 1
            if writer is None:
                writer = FeatureWriter(out_file, (len(keys), old.shape[1]),
                                       dtype)
            copy_reused(len(keys))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        self.last_stats['seconds'] = time.perf_counter() - start
        return writer.close(meta)
