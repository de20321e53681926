"""A read-only store of loaded and resized pairs (``LoadVICLPair``).

A pair's resized image and label never change (PromptHub has no pixel
augmentation), yet a prompt is decoded and resized again every time it is
retrieved, for every query and every epoch: 17 pairs per sample at N=16.
``tools/build_pair_cache.py`` loads every pair of a config's datasets once
and writes them here; ``LoadVICLPair(cache_dir=...)`` then reads a pair
back from a memory-mapped file instead of decoding it.

Layout of a cache folder:

* ``meta.json``: the loader settings the pairs were made with, and the
  number of pairs;
* ``keys.json``: one key per row (see ``LoadVICLPair.cache_key``: the
  record's paths and values plus each source file's size and mtime);
* ``pairs.u8``: uint8 [M, 2, H, W, 3], image then label;
* ``shapes.i64``: int64 [M, 2], the original (H, W).
"""
import json
import os
import os.path as osp
from typing import Iterable, Optional, Tuple

import numpy as np

META, KEYS, PAIRS, SHAPES = 'meta.json', 'keys.json', 'pairs.u8', 'shapes.i64'


class PairCache:
    """Read side of a pair cache folder (opened on first use, so each
    DataLoader worker maps the files itself).

    Args:
        directory (str): The folder written by :meth:`write`.
        settings (dict): The reading loader's settings; they must equal
            those the cache was written with.
    """

    def __init__(self, directory: str, settings: dict) -> None:
        self.directory = directory
        self.settings = settings
        self._rows = None

    def _open(self) -> None:
        meta_path = osp.join(self.directory, META)
        if not osp.isfile(meta_path):
            raise FileNotFoundError(
                f'No pair cache at {self.directory!r} ({META} is missing); '
                'build it with `python tools/build_pair_cache.py CONFIG '
                f'--out {self.directory}`.')
        with open(meta_path) as f:
            meta = json.load(f)
        if meta['settings'] != self.settings:
            raise ValueError(
                f'The pair cache {self.directory!r} was built with loader '
                f"settings {meta['settings']}, but this LoadVICLPair has "
                f'{self.settings}; rebuild it for this config.')
        with open(osp.join(self.directory, KEYS)) as f:
            keys = json.load(f)
        count = len(keys)
        if count != meta['count']:
            raise ValueError(f'{self.directory!r}: {KEYS} lists {count} '
                             f"pairs, {META} says {meta['count']}; the "
                             'cache is incomplete, rebuild it.')
        height, width = self.settings['size']
        self._pairs = np.memmap(
            osp.join(self.directory, PAIRS),
            np.uint8,
            'r',
            shape=(count, 2, height, width, 3)) if count else None
        self._shapes = np.fromfile(
            osp.join(self.directory, SHAPES),
            np.int64).reshape(count, 2)
        self._rows = {key: row for row, key in enumerate(keys)}

    def get(self, key: str) -> Optional[Tuple[np.ndarray, np.ndarray, tuple]]:
        """The cached (image, label, original shape) of ``key``, or None."""
        if self._rows is None:
            self._open()
        row = self._rows.get(key)
        if row is None:
            return None
        pair = np.array(self._pairs[row])  # a copy: the map is read-only
        return pair[0], pair[1], tuple(int(v) for v in self._shapes[row])

    @staticmethod
    def write(directory: str, settings: dict,
              items: Iterable[Tuple[str, np.ndarray, np.ndarray, tuple]],
              count: int) -> None:
        """Write ``count`` pairs ``(key, image, label, original shape)``.

        The rows are written first and ``meta.json`` last, so a cache cut
        short is refused when opened, never read half-written.
        """
        os.makedirs(directory, exist_ok=True)
        meta_path = osp.join(directory, META)
        if osp.exists(meta_path):
            os.remove(meta_path)
        height, width = settings['size']
        pairs = np.memmap(
            osp.join(directory, PAIRS),
            np.uint8,
            'w+',
            shape=(max(count, 1), 2, height, width, 3))
        shapes = np.zeros((count, 2), np.int64)
        keys = []
        for row, (key, img, label, ori_shape) in enumerate(items):
            if row >= count:
                raise ValueError(f'more than the announced {count} pairs')
            pairs[row, 0], pairs[row, 1] = img, label
            shapes[row] = ori_shape
            keys.append(key)
        if len(keys) != count:
            raise ValueError(f'got {len(keys)} pairs, announced {count}')
        pairs.flush()
        del pairs
        shapes.tofile(osp.join(directory, SHAPES))
        with open(osp.join(directory, KEYS), 'w') as f:
            json.dump(keys, f)
        with open(meta_path, 'w') as f:
            json.dump(dict(settings=settings, count=count), f, indent=1)
