"""A persistent cache of per-sample training targets (e.g. VQGAN codes).

PromptHub's targets are the codes of C*, a canvas built from the query
pair alone, by a frozen tokenizer: for a given query pair they never
change. Computing them once and reusing them in every later epoch removes
the VQGAN encoder from the training step.

Keys are *content* hashes of the query pair (exact integer hashes of its
uint8 pixels), not dataset indices: the same key is valid for any dataset,
split, class or sampler order, a changed or augmented query pair simply
misses, and no metadata has to be threaded through the pipeline. Values
live in a store per *fingerprint* (hash of the tokenizer's weights, the
pair geometry, the device type and the autocast precision under which the
targets were computed), so that a cached target is exactly what the
uncached code would have produced in the same setting (the reference
encodes C* under fp16 autocast during AMP training).

Stores are memory-mapped files under ``dir`` (one ``rows``/``keys`` file
pair per concurrent writer, read by every writer at start, each row
checked against a digest of its key and value when read) or in memory.
"""
import functools
import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from projects.prompthub.utils.atomic_io import try_lock

#: Integer lanes of the content hash; each is exact in float64 and a
#: given change of the pixels goes unnoticed with probability < 2**-20.
_HASH_LANES = 4
_HASH_RANGE = 2**20
#: One record of a store's keys file: the content key of a row and a
#: digest of key and row (:func:`_row_checks`).
_RECORD = np.dtype([('key', '<i8', (_HASH_LANES, )), ('check', '<u8')])
#: Version of the on-disk store layout (part of a store's folder name, so
#: files of another layout are never read as this one).
_STORE_FORMAT = 2


@functools.lru_cache(maxsize=8)
def hash_weights(length: int, device: torch.device) -> Tensor:
    """The fixed random hash weights [length, lanes] of a pixel count, on
    ``device`` (made once per pixel count and device)."""
    gen = torch.Generator().manual_seed(20260101 + length)
    w = torch.randint(1, _HASH_RANGE, (length, _HASH_LANES), generator=gen)
    return w.to(device=device, dtype=torch.float64)


def content_keys(pairs: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Exact content hashes of a batch of uint8-valued pairs.

    Args:
        pairs (Tensor): [B, ...] pixels, uint8 or float in [0, 1] holding
            multiples of 1/255 (what ``VICLDataPreprocessor`` produces).

    Returns:
        tuple[np.ndarray, np.ndarray]: int64 keys [B, 4] (sums of pixel
        values times fixed random weights, exact in float64 since they
        stay below 2**53) and a bool mask [B] of the samples whose pixels
        really are uint8 values (only those can be cached).
    """
    # One transfer for both (a single host sync).
    return unpack_keys(packed_content_keys(pairs).cpu())


def packed_content_keys(pairs: Tensor) -> Tensor:
    """:func:`content_keys` left on the device, packed as float64
    [B, 5]: the 4 keys, then 1.0 where the pixels are uint8 values (for
    callers that hash in chunks and transfer once)."""
    flat = pairs.detach().flatten(1)
    if flat.is_floating_point():
        # float32 holds k / 255 * 255 to within 1e-4 of k (k <= 255), so
        # the rounding and its check need no float64 (half the time on
        # CPU); only the products must be exact.
        if flat.dtype != torch.float64:
            flat = flat.float()
        scaled = flat * 255
        values = scaled.round()
        exact = (scaled - values).abs().amax(dim=1) <= 1e-3
        exact &= (values.amin(dim=1) >= 0) & (values.amax(dim=1) <= 255)
        values = values.double()
    else:
        values = flat.double()
        exact = torch.ones(flat.shape[0], dtype=torch.bool, device=flat.device)
    keys = values @ hash_weights(flat.shape[1], flat.device)
    return torch.cat([keys, exact[:, None].double()], dim=1)


def unpack_keys(packed: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """int64 keys [B, 4] and the cacheable mask [B] of a host copy of
    :func:`packed_content_keys`."""
    packed = packed.numpy()
    return packed[:, :-1].astype(np.int64), packed[:, -1] > 0


def tensor_fingerprint(module: nn.Module) -> str:
    """Hex digest of a module's state dict (names, dtypes, shapes, data)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, value in sorted(module.state_dict().items()):
        value = value.detach().cpu().contiguous()
        digest.update(f'{name}|{value.dtype}|{tuple(value.shape)}'.encode())
        digest.update(
            value.view(torch.uint8).numpy().tobytes() if value.numel() else b''
        )
    return digest.hexdigest()


def precision_tag(device: torch.device) -> str:
    """``'<device type>-<autocast dtype>'`` or ``'<type>-fp32'``."""
    kind = device.type
    if torch.is_autocast_enabled(kind):
        dtype = str(torch.get_autocast_dtype(kind)).replace('torch.', '')
        return f'{kind}-autocast-{dtype}'
    return f'{kind}-fp32'


def _row_checks(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """uint64 digest of each (key, row) pair: what a reader compares to
    know that a stored row is the one written for its key."""
    rows = np.ascontiguousarray(rows)
    return np.array([
        int.from_bytes(
            hashlib.blake2b(key.tobytes() + row.tobytes(),
                            digest_size=8).digest(), 'little')
        for key, row in zip(keys, rows)
    ], np.uint64)


class _RowStore:
    """Append-only rows of one shape/dtype with a key -> row map.

    With ``path``, each process that opens the store takes a free writer
    slot ``w<n>`` (an ``flock`` on ``writer-w<n>.lock``, held while the
    store is open): its rows go to ``rows-w<n>.bin`` and a record per row
    to ``keys-w<n>.bin`` (the key and a digest of key and row, appended
    after the rows are flushed, so a crash never leaves a record without
    its row). So no two writers ever share a file, and every row read
    back is checked against its record: a row that is not the one its key
    was written with (a corrupted or foreign file) is recomputed, with a
    warning, never served. The other slots' files, as they are when the
    store opens, are mapped read-only.
    """

    def __init__(self, path: Optional[str], shape: Tuple[int, ...],
                 dtype: np.dtype) -> None:
        self.path = path
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape, dtype=np.int64)) * \
            self.dtype.itemsize
        # key -> (array, row); the other places of duplicated keys.
        self.index: Dict[bytes, Tuple[int, int]] = {}
        self.spares: Dict[bytes, List[Tuple[int, int]]] = {}
        self.arrays: List[np.ndarray] = []  # one per source file
        self.checks: List[np.ndarray] = []  # their records' digests
        self.files: List[str] = []
        self.size = 0  # rows of the writable array
        self.capacity = 0
        self.bad = 0  # rows that failed their check
        if path is None:
            self.arrays.append(np.empty((0, ) + self.shape, self.dtype))
            self.checks.append(np.empty(0, np.uint64))
            self.files.append('<memory>')
            self.own = 0
            return
        os.makedirs(path, exist_ok=True)
        slot = 0
        while True:  # the first slot no open store holds
            self._lock = try_lock(osp.join(path, f'writer-w{slot}.lock'))
            if self._lock is not None:
                break
            slot += 1
        self.rows_file = osp.join(path, f'rows-w{slot}.bin')
        self.keys_file = osp.join(path, f'keys-w{slot}.bin')
        for name in sorted(os.listdir(path)):
            if name.startswith('keys-w') and name.endswith('.bin') and \
                    name != osp.basename(self.keys_file):
                self._load(name[len('keys-'):-len('.bin')], writable=False)
        self.own = self._load(f'w{slot}', writable=True)

    def _load(self, slot: str, writable: bool) -> int:
        keys_file = osp.join(self.path, f'keys-{slot}.bin')
        rows_file = osp.join(self.path, f'rows-{slot}.bin')
        records = np.fromfile(keys_file, dtype=np.uint8) \
            if osp.exists(keys_file) else np.empty(0, np.uint8)
        have = osp.getsize(rows_file) // max(self.row_bytes, 1) \
            if osp.exists(rows_file) else 0
        num = min(len(records) // _RECORD.itemsize, have)
        records = records[:num * _RECORD.itemsize].view(_RECORD)
        index = len(self.arrays)
        if writable:
            if not osp.exists(rows_file):
                open(rows_file, 'wb').close()
            # Drop a torn tail (rows flushed, records not yet appended).
            with open(keys_file, 'ab') as f:
                f.truncate(num * _RECORD.itemsize)
            self.size = self.capacity = num
            self.arrays.append(self._map(rows_file, num, 'r+'))
        else:
            self.arrays.append(self._map(rows_file, num, 'r'))
        self.checks.append(records['check'].copy())
        self.files.append(rows_file)
        for row, key in enumerate(records['key']):
            self._add(key.tobytes(), (index, row))
        return index

    def _add(self, key: bytes, place: Tuple[int, int]) -> None:
        if key in self.index:
            self.spares.setdefault(key, []).append(place)
        else:
            self.index[key] = place

    def _map(self, file: str, rows: int, mode: str) -> np.ndarray:
        if rows == 0:
            return np.empty((0, ) + self.shape, self.dtype)
        return np.memmap(file, self.dtype, mode, shape=(rows, ) + self.shape)

    def _grow(self, needed: int) -> None:
        capacity = max(needed, 2 * self.capacity, 64)
        old = self.arrays[self.own]
        if self.path is None:
            new = np.empty((capacity, ) + self.shape, self.dtype)
            new[:self.size] = old[:self.size]
        else:
            if isinstance(old, np.memmap):
                old.flush()
            del old
            self.arrays[self.own] = None
            with open(self.rows_file, 'r+b') as f:
                f.truncate(capacity * self.row_bytes)
            new = self._map(self.rows_file, capacity, 'r+')
        self.arrays[self.own] = new
        checks = np.zeros(capacity, np.uint64)
        checks[:self.size] = self.checks[self.own][:self.size]
        self.checks[self.own] = checks
        self.capacity = capacity

    def fetch(self, keys: np.ndarray) -> List[Optional[np.ndarray]]:
        """The checked row of each key, None where there is none."""
        out = []
        for key in keys:
            k = key.tobytes()
            row = None
            while row is None and k in self.index:
                array, i = self.index[k]
                row = self.arrays[array][i]
                if self.path is not None and _row_checks(
                        key[None], row[None])[0] != self.checks[array][i]:
                    self._reject(k, array, i)
                    row = None
            out.append(row)
        return out

    def _reject(self, key: bytes, array: int, row: int) -> None:
        """Forget a row that fails its check (a spare place or a
        recomputation replaces it)."""
        self.bad += 1
        spares = self.spares.get(key)
        if spares:
            self.index[key] = spares.pop(0)
        else:
            del self.index[key]
        if self.bad == 1:
            warnings.warn(
                f'Target cache: row {row} of {self.files[array]} is not '
                'the target its key was stored with (a corrupted or '
                'foreign file); such rows are recomputed, not served. '
                f'Delete {self.path} to rebuild the cache.',
                stacklevel=3)

    def append(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if rows.shape[1:] != self.shape or rows.dtype != self.dtype:
            raise ValueError(f'target rows {rows.dtype}{rows.shape[1:]} do '
                             f'not match the store {self.dtype}{self.shape}')
        fresh = {}
        for key, row in zip(keys, rows):
            k = key.tobytes()
            if k not in self.index and k not in fresh:
                fresh[k] = (key, row)
        if not fresh:
            return
        start, num = self.size, len(fresh)
        if start + num > self.capacity:
            self._grow(start + num)
        array = self.arrays[self.own]
        new_keys = np.stack([key for key, _ in fresh.values()])
        new_rows = np.stack([row for _, row in fresh.values()])
        array[start:start + num] = new_rows
        self.size += num
        for i, k in enumerate(fresh):
            self.index[k] = (self.own, start + i)
        if self.path is not None:
            records = np.empty(num, _RECORD)
            records['key'] = new_keys
            records['check'] = _row_checks(new_keys, new_rows)
            self.checks[self.own][start:start + num] = records['check']
            array.flush()
            with open(self.keys_file, 'ab') as f:
                f.write(records.tobytes())


class TargetCache:
    """Compute-once cache of the per-sample targets of a frozen backbone.

    ``cache.get(inputs, compute, backbone)`` returns ``compute(inputs)``
    but calls ``compute`` only on the samples whose query pair
    (``inputs[:, 0]``) has not been seen in the same setting (backbone
    weights, pair size, device type, autocast precision). Targets must not
    depend on anything but the query pair and the backbone (true for
    :meth:`PromptHub.prediction_targets`).

    Args:
        dir (str, optional): Folder of the memory-mapped stores (one
            sub-folder per fingerprint, e.g. under the work dir). None
            keeps them in memory for the life of the process.
            Defaults to None.
        enabled (bool): When False, :meth:`get` always computes.
            Defaults to True.
        fingerprint_module (str, optional): Attribute of the backbone that
            holds every weight the targets depend on. Defaults to None:
            the ``weights`` module given to :meth:`get` (PromptHub gives
            its backbone's ``target_network()``, the VQGAN of the
            MAE-VQGAN), else the whole backbone.

    Attributes:
        hits (int): Samples served from the cache.
        misses (int): Samples computed (cacheable or not).
    """

    def __init__(self,
                 dir: Optional[str] = None,
                 enabled: bool = True,
                 fingerprint_module: Optional[str] = None) -> None:
        self.dir = dir
        self.enabled = enabled
        self.fingerprint_module = fingerprint_module
        self.hits = 0
        self.misses = 0
        self._weights_digest: Optional[str] = None
        self._stores: Dict[str, _RowStore] = {}

    def __getstate__(self) -> dict:
        # Open files and device tensors are not copied; copies reopen.
        state = self.__dict__.copy()
        state.update(_stores={})
        return state

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(dir={self.dir!r}, '
                f'enabled={self.enabled}, hits={self.hits}, '
                f'misses={self.misses})')

    def reset_fingerprint(self) -> None:
        """Re-hash the backbone weights at the next call (after a load)."""
        self._weights_digest = None

    def fingerprint(self,
                    backbone: nn.Module,
                    query: Tensor,
                    weights: Optional[nn.Module] = None) -> dict:
        """What a cached target depends on, besides the query pixels
        (``weights``: see :meth:`get`)."""
        if self._weights_digest is None:
            if self.fingerprint_module:
                module = getattr(backbone, self.fingerprint_module)
            else:
                module = backbone if weights is None else weights
            self._weights_digest = tensor_fingerprint(module)
        return dict(
            backbone=type(backbone).__name__,
            weights=self._weights_digest,
            pair_shape=list(query.shape[1:]),
            precision=precision_tag(query.device))

    def _open(self,
              fingerprint: dict,
              sample: Optional[np.ndarray] = None) -> Optional[_RowStore]:
        """The store of ``fingerprint``; created from ``sample`` rows."""
        text = json.dumps(
            dict(fingerprint, store_format=_STORE_FORMAT), sort_keys=True)
        name = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
        store = self._stores.get(name)
        if store is not None:
            return store
        path = meta_file = None
        meta = None
        if self.dir is not None:
            path = osp.join(self.dir, name)
            meta_file = osp.join(path, 'meta.json')
            if osp.exists(meta_file):
                with open(meta_file) as f:
                    meta = json.load(f)
        if meta is None:
            if sample is None:
                return None
            meta = dict(
                fingerprint=fingerprint,
                shape=list(sample.shape[1:]),
                dtype=str(sample.dtype))
            if path is not None:
                os.makedirs(path, exist_ok=True)
                # A private temporary name: concurrent writers each
                # rename a complete file into place.
                fd, tmp = tempfile.mkstemp(prefix='meta.', dir=path)
                with os.fdopen(fd, 'w') as f:
                    json.dump(meta, f, sort_keys=True, indent=1)
                os.replace(tmp, meta_file)
        if meta['fingerprint'] != fingerprint:
            raise RuntimeError(f'{meta_file} belongs to another setting; '
                               'remove the folder')
        store = _RowStore(path, tuple(meta['shape']), np.dtype(meta['dtype']))
        self._stores[name] = store
        return store

    def get(self,
            inputs: Tensor,
            compute: Callable[[Tensor], Tensor],
            backbone: nn.Module,
            weights: Optional[nn.Module] = None) -> Tensor:
        """``compute(inputs)``, reading cached rows where possible.

        Args:
            inputs (Tensor): [B, K+1, 2, 3, S, S] pairs; the key is the
                query pair ``inputs[:, 0]``.
            compute (Callable): Batched target function; called with a
                subset of the rows of ``inputs`` (all of them when nothing
                is cached).
            backbone (nn.Module): The frozen network behind ``compute``
                (its class name is part of the fingerprint).
            weights (nn.Module, optional): The part of ``backbone`` whose
                weights decide the targets, hashed once at the first call
                (e.g. ``backbone.target_network()``), so that other weights
                do not invalidate the cache. Defaults to None (all of
                ``backbone``).

        Returns:
            Tensor: The targets [B, ...] on the device of ``inputs``.
        """
        if not self.enabled:
            self.misses += inputs.shape[0]
            return compute(inputs)
        query = inputs[:, 0]
        keys, cacheable = content_keys(query)
        fingerprint = self.fingerprint(backbone, query, weights)
        store = self._open(fingerprint)
        rows = store.fetch(keys) if store else [None] * len(keys)
        hit = [i for i, r in enumerate(rows) if r is not None]
        miss = [i for i, r in enumerate(rows) if r is None]
        self.hits += len(hit)
        self.misses += len(miss)
        if not hit:
            out = compute(inputs)
        else:
            cached = torch.from_numpy(np.stack([rows[i] for i in hit]))
            if not miss:
                return cached.to(inputs.device, non_blocking=True)
            idx = torch.as_tensor(miss, device=inputs.device)
            computed = compute(inputs.index_select(0, idx))
            out = computed.new_empty((len(keys), ) + tuple(cached.shape[1:]))
            out[torch.as_tensor(hit, device=out.device)] = cached.to(
                out.device, out.dtype)
            out[idx] = computed
        save = np.asarray([i for i in miss if cacheable[i]], dtype=np.int64)
        if len(save):
            rows = out.detach()[torch.as_tensor(save, device=out.device)]
            rows = rows.cpu().numpy()
            store = store or self._open(fingerprint, rows)
            store.append(keys[save], rows)
        return out


def build_optional(cls: type, cfg: Optional[dict]):
    """``cls(**cfg)``, or None when ``cfg`` is None or has
    ``enabled=False`` (the switch of the caches' configs)."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    if not cfg.pop('enabled', True):
        return None
    return cls(**cfg)


def build_target_cache(cfg: Optional[dict]) -> Optional[TargetCache]:
    """A :class:`TargetCache` from a config dict, None when off/absent."""
    return build_optional(TargetCache, cfg)
