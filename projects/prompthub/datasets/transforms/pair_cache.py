"""A read-only store of loaded and resized pairs (``LoadVICLPair``).

A pair's resized image and label never change (PromptHub has no pixel
augmentation), yet a prompt is decoded and resized again every time it is
retrieved, for every query and every epoch: 17 pairs per sample at N=16.
``tools/misc/build_pair_cache.py`` loads every pair of a config's datasets once
and writes them here; ``LoadVICLPair(cache_dir=...)`` then reads a pair
back from a memory-mapped file instead of decoding it.

Layout of a cache folder (``tools/misc/build_pair_cache.py --out``):

* ``current``: a symlink to the published version folder ``v-*``;
* ``v-*/meta.json``: the loader settings the pairs were made with, the
  number of pairs and the key kind (``'stat'``, or ``'content'`` when
  built with ``--verify``);
* ``v-*/keys.json``: one key per row (see ``LoadVICLPair.cache_key``:
  the record's paths and values plus each source file's size and mtime,
  or its size and content hash);
* ``v-*/pairs.u8``: uint8 [M, 2, H, W, 3], image then label;
* ``v-*/shapes.i64``: int64 [M, 2], the original (H, W).

A rebuild writes a new version folder and switches ``current`` with one
atomic rename (:class:`VersionBuilder`): readers that have mapped the old
version keep reading it unchanged, new readers see only complete
versions, and of concurrent builders the last to finish wins. A folder
with the files directly in it (the layout before versions) is still read.
"""
import json
import os.path as osp
from typing import Iterable, List, Optional, Tuple

import numpy as np

from projects.prompthub.utils.atomic_io import (VersionBuilder,
                                                current_version, fsync_file)

META, KEYS, PAIRS, SHAPES = 'meta.json', 'keys.json', 'pairs.u8', 'shapes.i64'
#: Key kinds: source files identified by (size, mtime) or by content.
KEY_KINDS = ('stat', 'content')


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
        self.version = None  # the folder read, once opened
        self._rows = None

    @property
    def key_kind(self) -> str:
        """``'stat'`` or ``'content'`` (built with ``--verify``)."""
        if self._rows is None:
            self._open()
        return self._key_kind

    def _resolve(self) -> str:
        return current_version(self.directory) or self.directory

    def _open(self) -> None:
        for attempt in range(3):
            version = self._resolve()
            try:
                return self._open_version(version)
            except FileNotFoundError:
                # A rebuild that finished while we read removes the
                # version it replaced: read the one it published.
                if attempt == 2 or self._resolve() == version:
                    raise

    def _open_version(self, version: str) -> None:
        meta_path = osp.join(version, META)
        if not osp.isfile(meta_path):
            raise FileNotFoundError(
                f'No pair cache at {self.directory!r} ({meta_path} is '
                'missing); build it with '
                '`python tools/misc/build_pair_cache.py '
                f'CONFIG --out {self.directory}`.')
        with open(meta_path) as f:
            meta = json.load(f)
        if meta['settings'] != self.settings:
            raise ValueError(
                f'The pair cache {self.directory!r} was built with loader '
                f"settings {meta['settings']}, but this LoadVICLPair has "
                f'{self.settings}; rebuild it for this config.')
        with open(osp.join(version, KEYS)) as f:
            keys = json.load(f)
        count = len(keys)
        if count != meta['count']:
            raise ValueError(f'{version!r}: {KEYS} lists {count} pairs, '
                             f"{META} says {meta['count']}; the cache is "
                             'incomplete, rebuild it.')
        height, width = self.settings['size']
        # The maps stay valid when a rebuild unlinks these files.
        self._pairs = np.memmap(
            osp.join(version, PAIRS),
            np.uint8,
            'r',
            shape=(count, 2, height, width, 3)) if count else None
        self._shapes = np.fromfile(osp.join(version, SHAPES),
                                   np.int64).reshape(count, 2)
        self._key_kind = meta.get('key', 'stat')
        self._rows = {key: row for row, key in enumerate(keys)}
        self.version = version

    def keys(self) -> List[str]:
        """The keys of the cached pairs, in row order."""
        if self._rows is None:
            self._open()
        return list(self._rows)

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
    def write(directory: str,
              settings: dict,
              items: Iterable[Tuple[str, np.ndarray, np.ndarray, tuple]],
              count: int,
              key_kind: str = 'stat') -> str:
        """Write ``count`` pairs ``(key, image, label, original shape)``
        as a new version of ``directory`` and publish it.

        Nothing under the published version is touched: the rows go to a
        fresh version folder, synced, and ``current`` switches to it only
        once it is complete, so readers (open or new) never see a cache
        cut short, and a failed build leaves the previous one in place.

        Args:
            key_kind (str): How the keys identify source files (stored for
                readers): ``'stat'`` or ``'content'``.

        Returns:
            str: The published version folder.
        """
        if key_kind not in KEY_KINDS:
            raise ValueError(f'key_kind must be one of {KEY_KINDS}, got '
                             f'{key_kind!r}')
        height, width = settings['size']
        with VersionBuilder(directory) as version:
            path = version.path
            pairs = np.memmap(
                osp.join(path, PAIRS),
                np.uint8,
                'w+',
                shape=(max(count, 1), 2, height, width, 3))
            shapes = np.zeros((count, 2), np.int64)
            keys = []
            for row, (key, img, label, ori_shape) in enumerate(items):
                if row >= count:
                    raise ValueError(f'more than the announced {count} '
                                     'pairs')
                pairs[row, 0], pairs[row, 1] = img, label
                shapes[row] = ori_shape
                keys.append(key)
            if len(keys) != count:
                raise ValueError(f'got {len(keys)} pairs, announced {count}')
            pairs.flush()
            del pairs
            shapes.tofile(osp.join(path, SHAPES))
            with open(osp.join(path, KEYS), 'w') as f:
                json.dump(keys, f)
            with open(osp.join(path, META), 'w') as f:
                json.dump(
                    dict(settings=settings, count=count, key=key_kind),
                    f,
                    indent=1)
            for name in (PAIRS, SHAPES, KEYS, META):
                fsync_file(osp.join(path, name))
            version.publish(stale=(META, KEYS, PAIRS, SHAPES))
        return path
