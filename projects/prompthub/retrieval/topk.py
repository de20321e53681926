"""Chunked cosine top-k search with self-exclusion and name de-duplication.

Pixel-level CLIP features are 263,168-dimensional, so neither the feature
matrices nor the full ``[Q, C]`` similarity matrix need fit in memory: the
queries are processed in blocks, the candidates streamed in chunks, and
each block keeps only a running top-k that is merged with every chunk's
top-k. Memory is bounded by ``(query_chunk_size + chunk_size) * D`` feature
values plus a ``query_chunk_size x chunk_size`` score block.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.utils import ProgressBar

ArrayLike = Union[np.ndarray, torch.Tensor, 'FeatureStore']  # noqa: F821


def _rows(features, start: int, stop: int, device: torch.device,
          normalize: bool) -> torch.Tensor:
    """Rows ``[start, stop)`` as a float32 tensor on ``device``."""
    rows = features[start:stop]
    if not isinstance(rows, torch.Tensor):
        rows = torch.from_numpy(np.ascontiguousarray(rows))
    # Copy in the storage dtype (fp16 halves the transfer), compute in
    # fp32: fp16 scores would tie neighbours that differ at 1e-3.
    rows = rows.to(device).float()
    if normalize:
        rows = F.normalize(rows, dim=1)
    return rows


def _group_ids(names: Sequence[str]) -> Tuple[np.ndarray, dict]:
    """One id per distinct name, in order of first appearance."""
    ids: dict = {}
    groups = np.fromiter((ids.setdefault(n, len(ids)) for n in names),
                         dtype=np.int64,
                         count=len(names))
    return groups, ids


def _dedup(scores: torch.Tensor, index: torch.Tensor,
           groups: torch.Tensor) -> torch.Tensor:
    """Set to -inf every entry whose name already occurs with a better
    (or equal and earlier) score in the same row."""
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    index = index.gather(1, order)
    grp, by_group = groups[index].sort(dim=1, stable=True)
    # After the stable sort by group, the first entry of each run of equal
    # groups is the best-scoring one.
    first = torch.ones_like(grp, dtype=torch.bool)
    first[:, 1:] = grp[:, 1:] != grp[:, :-1]
    keep = torch.empty_like(first).scatter_(1, by_group, first)
    return scores.masked_fill(~keep, float('-inf')), index


def _select(scores: torch.Tensor, index: torch.Tensor,
            k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` columns of each row (``k`` clipped to the width)."""
    top, pos = scores.topk(min(k, scores.shape[1]), dim=1)
    return top, index.gather(1, pos)


def cosine_topk(query: ArrayLike,
                candidates: ArrayLike,
                k: int,
                query_names: Optional[Sequence[str]] = None,
                candidate_names: Optional[Sequence[str]] = None,
                exclude_self: bool = False,
                chunk_size: int = 4096,
                query_chunk_size: Optional[int] = None,
                device: Union[str, torch.device] = 'cpu',
                normalize: bool = True,
                progress: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Cosine top-``k`` candidates of every query, computed in chunks.

    Names matter in two ways. A candidate name listed in several rows (one
    image stored once per class, say) is returned once, at the rank of its
    best row. With ``exclude_self`` a candidate whose name equals the
    query's name is never returned, wherever it would rank.

    Ties are broken towards the lower candidate index, except possibly
    among candidates tied exactly at the k-th place.

    Args:
        query (np.ndarray | Tensor | FeatureStore): [Q, D] query features
            (anything sliceable by rows, e.g. a ``np.memmap``).
        candidates (np.ndarray | Tensor | FeatureStore): [C, D] candidate
            features; may be the same object as ``query``.
        k (int): Neighbours per query.
        query_names (Sequence[str], optional): Q names; required with
            ``exclude_self``.
        candidate_names (Sequence[str], optional): C names; required with
            ``exclude_self``. Defaults to all distinct.
        exclude_self (bool): Drop candidates named like the query.
            Defaults to False.
        chunk_size (int): Candidate rows per matrix product.
            Defaults to 4096.
        query_chunk_size (int, optional): Query rows per block. Larger
            blocks re-read the candidates fewer times. Defaults to
            ``chunk_size``.
        device (str | torch.device): Where to multiply. Defaults to 'cpu'.
        normalize (bool): L2-normalise rows (skip if already unit norm).
            Defaults to True.
        progress (bool): Show an mmengine progress bar. Defaults to False.

    Returns:
        tuple[np.ndarray, np.ndarray]: int64 ``indices`` [Q, k] (rows of
        ``candidates``, best first) and float32 ``scores`` [Q, k]. Rows
        with fewer than ``k`` admissible candidates are padded with index
        -1 and score -inf.
    """
    if k < 1:
        raise ValueError(f'k must be positive, got {k}')
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be positive, got {chunk_size}')
    query_chunk_size = query_chunk_size or chunk_size
    num_q, dim = query.shape[0], query.shape[1]
    num_c = candidates.shape[0]
    if candidates.shape[1] != dim:
        raise ValueError(f'query dim {dim} != candidate dim '
                         f'{candidates.shape[1]}')
    device = torch.device(device)

    if candidate_names is not None:
        if len(candidate_names) != num_c:
            raise ValueError(f'{len(candidate_names)} candidate names for '
                             f'{num_c} candidate rows')
        groups_np, group_of = _group_ids(candidate_names)
        multiplicity = int(np.bincount(groups_np).max()) if num_c else 1
    else:
        groups_np, group_of = np.arange(num_c, dtype=np.int64), None
        multiplicity = 1
    groups = torch.from_numpy(groups_np).to(device)

    query_groups = None
    if exclude_self:
        if query_names is None or candidate_names is None:
            raise ValueError('exclude_self needs query_names and '
                             'candidate_names (exclusion is by name)')
        if len(query_names) != num_q:
            raise ValueError(f'{len(query_names)} query names for {num_q} '
                             'query rows')
        # -1 matches no candidate: a query absent from the candidates.
        query_groups = torch.tensor([group_of.get(n, -1) for n in query_names],
                                    dtype=torch.int64,
                                    device=device)

    # Enough per-chunk rows that the chunk's best k distinct names survive
    # even if each name fills ``multiplicity`` rows.
    per_chunk = k * multiplicity
    q_starts = range(0, num_q, query_chunk_size)
    c_starts = list(range(0, num_c, chunk_size))
    bar = ProgressBar(len(q_starts) * len(c_starts)) if progress else None
    cached_chunk = None
    out_idx = np.full((num_q, k), -1, dtype=np.int64)
    out_scores = np.full((num_q, k), -np.inf, dtype=np.float32)

    with torch.inference_mode():
        for qs in q_starts:
            qe = min(qs + query_chunk_size, num_q)
            q = _rows(query, qs, qe, device, normalize)
            best_s = q.new_empty((qe - qs, 0))
            best_i = torch.empty((qe - qs, 0),
                                 dtype=torch.int64,
                                 device=device)
            for cs in c_starts:
                ce = min(cs + chunk_size, num_c)
                if cached_chunk is not None:
                    c = cached_chunk
                else:
                    c = _rows(candidates, cs, ce, device, normalize)
                    if len(c_starts) == 1:
                        cached_chunk = c  # one chunk: read it only once
                sim = q @ c.T
                if query_groups is not None:
                    sim.masked_fill_(
                        query_groups[qs:qe, None] == groups[None, cs:ce],
                        float('-inf'))
                chunk_s, chunk_i = sim.topk(min(per_chunk, ce - cs), dim=1)
                cat_s = torch.cat([best_s, chunk_s], dim=1)
                cat_i = torch.cat([best_i, chunk_i + cs], dim=1)
                if multiplicity > 1:
                    cat_s, cat_i = _dedup(cat_s, cat_i, groups)
                # Duplicates are -inf now, so k columns hold the k best
                # distinct names seen so far.
                best_s, best_i = _select(cat_s, cat_i, k)
                if bar is not None:
                    bar.update()
            # Deterministic order: score descending, then index ascending.
            best_i, order = best_i.sort(dim=1, stable=True)
            best_s = best_s.gather(1, order)
            best_s, order = best_s.sort(dim=1, descending=True, stable=True)
            best_i = best_i.gather(1, order)
            best_i = best_i.masked_fill(torch.isneginf(best_s), -1)
            width = best_s.shape[1]
            out_idx[qs:qe, :width] = best_i.cpu().numpy()
            out_scores[qs:qe, :width] = best_s.cpu().numpy()
    if bar is not None:
        print()
    return out_idx, out_scores
