"""An in-memory cache of per-prompt fusion states for inference.

At evaluation the same prompt pairs come back for many queries (the top-N
of a retrieval over one training split), and everything the fusion neck
computes from a prompt alone (alignment, key/value and label projections,
see ``LocalityFusionNeck.prompt_states``) is then a fixed function of the
prompt's pixels and of frozen weights. :class:`PromptStateCache` computes
it once per distinct prompt and serves it from a device-resident slab.

Keys are the exact content hashes of the prompt pairs that the target-code
cache uses (:func:`content_keys`): no metadata has to be threaded through
the pipeline and a changed prompt simply misses. Pairs that are not
uint8-valued (e.g. the reference's reference float feature inputs) are
computed every time. The cache empties itself when the weights change
(in-place updates such as an optimizer step or ``load_state_dict`` bump the
tensors' version counters), when the autocast setting changes, and when
the states' shape, dtype or device change.
"""
import warnings
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from .target_cache import (build_optional, packed_content_keys, precision_tag,
                           unpack_keys)

#: Prompt pairs hashed per call: bounds the float64 hashing buffer
#: (rows x 2 x 3 x S x S x 8 bytes; 38 MiB for S=111).
_HASH_ROWS = 64


def weights_version(module: nn.Module) -> Tuple[Tuple[int, int], ...]:
    """Storage address and in-place version of every tensor of ``module``.

    Cheap enough for every batch: it reads counters, not weights.
    """
    tensors = list(module.parameters()) + list(module.buffers())
    return tuple((t.data_ptr(), t._version) for t in tensors)


class PromptStateCache:
    """Least-recently-used cache of per-prompt states on the model's device.

    Args:
        max_items (int): Most prompts kept. Each costs ``3 * 49 * D``
            values of the states' dtype (0.6 MB at D=1024 in fp32, half
            under fp16/bf16 autocast). Defaults to 4096.

    Attributes:
        hits (int): Prompt slots served from the cache.
        misses (int): Prompt slots computed.
    """

    def __init__(self, max_items: int = 4096) -> None:
        if max_items < 1:
            raise ValueError(f'max_items must be >= 1, got {max_items!r}.')
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._slots: 'OrderedDict[bytes, int]' = OrderedDict()
        self._slab: Optional[Tensor] = None
        self._version: Optional[tuple] = None
        self._warned = False

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_items={self.max_items}, '
                f'items={len(self._slots)}, hits={self.hits}, '
                f'misses={self.misses})')

    def __len__(self) -> int:
        return len(self._slots)

    def clear(self) -> None:
        """Forget every state (and free the slab)."""
        self._slots.clear()
        self._slab = None

    def _keys(self, prompts: Tensor) -> Tuple[List[bytes], List[bool]]:
        """Content key and cacheability of each row of ``prompts``."""
        packed = torch.cat([
            packed_content_keys(prompts[start:start + _HASH_ROWS])
            for start in range(0, len(prompts), _HASH_ROWS)
        ])
        keys, cacheable = unpack_keys(packed.cpu())  # one host sync
        return [row.tobytes() for row in keys], cacheable.tolist()

    def get(self, prompts: Tensor, compute: Callable[[Tensor], Tensor],
            module: nn.Module) -> Tensor:
        """``compute(prompts.flatten(0, 1))`` reshaped, from the cache where
        possible.

        Args:
            prompts (Tensor): (B, N, ...) prompt pairs (the input of
                ``compute``, hashed by content).
            compute (Callable): Per-prompt states of a batch of rows of
                ``prompts.flatten(0, 1)``; must not depend on anything but
                the row and the weights of ``module``.
            module (nn.Module): Holds every weight ``compute`` reads.

        Returns:
            Tensor: (B, N, ...) states.
        """
        # States of another precision are not what this call would compute.
        version = (precision_tag(prompts.device), weights_version(module))
        if version != self._version:
            self.clear()
            self._version = version
        bsz, num = prompts.shape[:2]
        flat = prompts.flatten(0, 1)
        keys, cacheable = self._keys(flat)
        distinct = {k for k, ok in zip(keys, cacheable) if ok}
        if len(distinct) > self.max_items:
            if not self._warned:
                warnings.warn(
                    f'PromptStateCache: a batch has {len(distinct)} distinct '
                    f'prompts, more than max_items={self.max_items}; such '
                    'batches are computed without the cache (raise '
                    'max_items).')
                self._warned = True
            self.misses += len(keys)
            return compute(flat).unflatten(0, (bsz, num))
        for key in distinct & self._slots.keys():
            self._slots.move_to_end(key)
        # One row per distinct missing key, then every uncacheable row.
        first_row: Dict[bytes, int] = {}
        for row, (key, ok) in enumerate(zip(keys, cacheable)):
            if ok and key not in self._slots:
                first_row.setdefault(key, row)
        uncached = [row for row, ok in enumerate(cacheable) if not ok]
        todo = list(first_row.values()) + uncached
        self.misses += len(first_row) + len(uncached)
        self.hits += len(keys) - len(first_row) - len(uncached)
        computed = None
        if todo:
            computed = compute(flat[torch.as_tensor(todo, device=flat.device)])
            self._store(list(first_row), computed[:len(first_row)])
        if self._slab is None:  # nothing cacheable in this batch
            return computed.unflatten(0, (bsz, num))
        cached_rows = [row for row, ok in enumerate(cacheable) if ok]
        out = self._slab.new_empty((len(keys), ) + self._slab.shape[1:])
        if cached_rows:
            slots = torch.as_tensor(
                [self._slots[keys[r]] for r in cached_rows], device=out.device)
            out[torch.as_tensor(cached_rows, device=out.device)] = \
                self._slab[slots]
        if uncached:
            out[torch.as_tensor(uncached, device=out.device)] = \
                computed[len(first_row):].to(out.dtype)
        return out.unflatten(0, (bsz, num))

    def _store(self, keys: List[bytes], states: Tensor) -> None:
        """Put ``states`` (one row per key) into free or least-recently
        used slots."""
        if not keys:
            return
        slab = self._slab
        if slab is not None and (slab.shape[1:] != states.shape[1:]
                                 or slab.dtype != states.dtype
                                 or slab.device != states.device):
            # Another precision or geometry: the old states do not apply.
            self.clear()
            slab = None
        used = len(self._slots)
        need = min(self.max_items, used + len(keys))
        if slab is None or need > len(slab):
            size = min(self.max_items,
                       max(need, 2 * (0 if slab is None else len(slab))))
            grown = states.new_empty((size, ) + tuple(states.shape[1:]))
            if slab is not None:
                grown[:len(slab)] = slab
            self._slab = slab = grown
        slots = []
        for key in keys:
            if len(self._slots) < len(slab):
                slot = len(self._slots)
            else:
                _, slot = self._slots.popitem(last=False)
            self._slots[key] = slot
            slots.append(slot)
        slab[torch.as_tensor(slots, device=slab.device)] = states


def build_prompt_state_cache(
        cfg: Optional[dict]) -> Optional[PromptStateCache]:
    """A :class:`PromptStateCache` from a config dict, None when off."""
    return build_optional(PromptStateCache, cfg)
