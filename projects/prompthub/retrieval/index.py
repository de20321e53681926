"""The retrieval index: which candidates serve as prompts for which query.

A :class:`RetrievalIndex` is the product of offline retrieval (see
``tools/misc/build_retrieval_index.py``). It maps every query sample name to
its ``K`` best candidate sample names, best first, and carries a *fingerprint*
describing how it was built so that a stale file (other splits, another
model or top-k) is refused when loaded instead of silently used.
"""
import hashlib
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.atomic_io import AtomicWriter, atomic_write
from .fingerprint import fingerprint_diff, jsonable, make_fingerprint

#: Bumped when the on-disk layout of the ``.npz`` file changes.
INDEX_FORMAT_VERSION = 1


def rebuild_command(path: str, build_command: Optional[str] = None) -> str:
    """The command that (re)writes the index ``path``.

    Args:
        path (str): The index file.
        build_command (str, optional): The command recorded in the file
            when it was built (see :attr:`RetrievalIndex.build_command`).

    Returns:
        str: A sentence giving the command.
    """
    if build_command:
        return f'Rebuild it with `{build_command}`.'
    return (
        f'Rebuild it with `python tools/misc/build_retrieval_index.py CONFIG '
        f'--out {path}` (CONFIG: the config whose `retrieval` dict '
        'describes its datasets), or re-import the reference lists with '
        f'`python tools/misc/build_retrieval_index.py CONFIG --from-json JSON '
        f'--out {path}`.')


class RetrievalIndex:
    """Top-K retrieval lists from query samples to candidate samples.

    Args:
        query_names (Sequence[str]): Unique query sample names.
        candidate_names (Sequence[str]): Unique candidate sample names.
        indices (np.ndarray): int64 [Q, K] positions in
            ``candidate_names``, best first. ``-1`` pads rows that have
            fewer than ``K`` neighbours.
        scores (np.ndarray, optional): float32 [Q, K] similarities of
            ``indices``; NaN where unknown. Defaults to all NaN.
        fingerprint (dict, optional): JSON-serialisable description of how
            the index was built. Its ``datasets`` entry (set by
            ``tools/misc/build_retrieval_index.py``) holds the name hashes of
            the
            query and candidate *datasets*, which
            ``RetrievalAugmentedDataset`` compares with the datasets it is
            used with. Defaults to the name hashes only.
        build_command (str, optional): The command that wrote the index,
            quoted in errors that ask for a rebuild. Not part of the
            fingerprint. Defaults to None.
    """

    def __init__(self,
                 query_names: Sequence[str],
                 candidate_names: Sequence[str],
                 indices: np.ndarray,
                 scores: Optional[np.ndarray] = None,
                 fingerprint: Optional[dict] = None,
                 build_command: Optional[str] = None) -> None:
        self.query_names = [str(n) for n in query_names]
        self.candidate_names = [str(n) for n in candidate_names]
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 2 or len(indices) != len(self.query_names):
            raise ValueError(
                f'indices must have shape [num_queries={len(query_names)}, '
                f'K], got {indices.shape}')
        if indices.size and (indices.min() < -1
                             or indices.max() >= len(self.candidate_names)):
            raise ValueError('indices out of range of candidate_names')
        if scores is None:
            scores = np.full(indices.shape, np.nan, dtype=np.float32)
        scores = np.asarray(scores, dtype=np.float32)
        if scores.shape != indices.shape:
            raise ValueError(f'scores shape {scores.shape} differs from '
                             f'indices shape {indices.shape}')
        for what, names in (('query', self.query_names),
                            ('candidate', self.candidate_names)):
            if len(set(names)) != len(names):
                raise ValueError(f'{what} names are not unique')
        self.indices = indices
        self.scores = scores
        if fingerprint is None:
            fingerprint = make_fingerprint(self.query_names,
                                           self.candidate_names)
        self.fingerprint = jsonable(fingerprint)
        self.build_command = build_command
        self._query_pos: Optional[Dict[str, int]] = None

    # ------------------------------------------------------------------
    # Look-ups
    # ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.query_names)

    def __contains__(self, query_name: str) -> bool:
        return query_name in self._query_positions()

    @property
    def topk(self) -> int:
        """int: Number of neighbour slots per query."""
        return self.indices.shape[1]

    def _query_positions(self) -> Dict[str, int]:
        if self._query_pos is None:
            self._query_pos = {n: i for i, n in enumerate(self.query_names)}
        return self._query_pos

    def neighbour_indices(self,
                          query_name: str,
                          k: Optional[int] = None) -> np.ndarray:
        """Positions in ``candidate_names`` of the ``k`` best neighbours.

        Args:
            query_name (str): A query sample name.
            k (int, optional): How many. Defaults to all ``topk``.

        Returns:
            np.ndarray: int64 [k], best first.

        Raises:
            KeyError: If ``query_name`` is not a query of the index.
            ValueError: If fewer than ``k`` neighbours are stored.
        """
        try:
            row = self.indices[self._query_positions()[query_name]]
        except KeyError:
            raise KeyError(f'{query_name!r} is not a query of this '
                           f'retrieval index ({len(self)} queries)') from None
        row = row[row >= 0]
        if k is None:
            return row
        if k > len(row):
            raise ValueError(f'{k} neighbours requested for {query_name!r} '
                             f'but the index holds {len(row)}')
        return row[:k]

    def neighbours(self,
                   query_name: str,
                   k: Optional[int] = None) -> List[str]:
        """Names of the ``k`` best neighbours of ``query_name``, best first.

        Args:
            query_name (str): A query sample name.
            k (int, optional): How many. Defaults to all ``topk``.

        Returns:
            list[str]: Candidate sample names.
        """
        return [
            self.candidate_names[i]
            for i in self.neighbour_indices(query_name, k)
        ]

    # ------------------------------------------------------------------
    # Files
    # ------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the index to one ``.npz`` file (metadata as JSON inside).

        The file is written to a temporary name next to ``path``, synced
        and renamed (:class:`~projects.prompthub.utils.atomic_io.
        AtomicWriter`), so readers never see a partial index, even after a
        crash.

        Args:
            path (str): Output file; parent directories are created.
        """
        meta = dict(
            format_version=INDEX_FORMAT_VERSION, fingerprint=self.fingerprint)
        if self.build_command:
            meta['build_command'] = self.build_command
        with AtomicWriter(path) as f:
            np.savez(
                f,
                meta=np.array(json.dumps(meta, sort_keys=True)),
                query_names=np.array(self.query_names, dtype=np.str_),
                candidate_names=np.array(self.candidate_names, dtype=np.str_),
                indices=self.indices,
                scores=self.scores)

    @classmethod
    def load(cls,
             path: str,
             expected_fingerprint: Optional[dict] = None) -> 'RetrievalIndex':
        """Read an index written by :meth:`save`.

        Args:
            path (str): The ``.npz`` file.
            expected_fingerprint (dict, optional): If given, every key in it
                must equal the stored fingerprint's value (keys it lacks are
                not checked). Defaults to None (no check).

        Returns:
            RetrievalIndex: The index.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not a complete index (truncated,
                empty, another kind of file) or is stale; the message
                names the file, the differing keys and how to rebuild it.
        """
        if not osp.isfile(path):
            raise FileNotFoundError(f'Retrieval index {path!r} not found. '
                                    f'{rebuild_command(path)}')
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data['meta']))
                index = cls(
                    query_names=data['query_names'].tolist(),
                    candidate_names=data['candidate_names'].tolist(),
                    indices=data['indices'],
                    scores=data['scores'],
                    fingerprint=meta['fingerprint'],
                    build_command=meta.get('build_command'))
        except Exception as e:  # zipfile, numpy and json raise many types
            raise ValueError(
                f'Retrieval index {path!r} is unreadable: truncated, '
                'corrupt or not a retrieval index file '
                f'({type(e).__name__}: {e}). '
                f'{rebuild_command(path)}') from e
        version = meta.get('format_version')
        if version != INDEX_FORMAT_VERSION:
            raise ValueError(
                f'Retrieval index {path!r} has format version {version}, '
                f'expected {INDEX_FORMAT_VERSION}. '
                f'{rebuild_command(path, index.build_command)}')
        if expected_fingerprint is not None:
            diff = fingerprint_diff(index.fingerprint, expected_fingerprint)
            if diff:
                expected = jsonable(expected_fingerprint)
                details = '; '.join(
                    f'{k}: stored={index.fingerprint.get(k)!r} '
                    f'expected={expected[k]!r}' for k in diff)
                raise ValueError(
                    f'Stale retrieval index {path!r}: fingerprint keys '
                    f'{diff} differ ({details}). '
                    f'{rebuild_command(path, index.build_command)}')
        return index

    @classmethod
    def from_reference_json(cls,
                            path: str,
                            strip_ext: bool = False) -> 'RetrievalIndex':
        """Import the reference's ``{query_name: [names]}`` JSON lists
        (e.g. ``folder0_top_50-similarity.json``).

        The reference's COCO lists name images with their ``.jpg``
        extension while our datasets' ``sample_name`` is the stem;
        ``strip_ext=True`` drops the extension of every name.

        Candidate names are the distinct listed names in order of first
        appearance; scores are NaN. Lists shorter than the longest are
        padded with ``-1``. A name repeated within one list is kept once
        (first position), as the reference's de-duplication intends.

        Args:
            path (str): The JSON file.
            strip_ext (bool): Drop file extensions from all names.
                Defaults to False.

        Returns:
            RetrievalIndex: The index.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If it is not a ``{query_name: [names]}`` JSON.
        """
        try:
            with open(path, encoding='utf-8') as f:
                lists = json.load(f)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f'Retrieval JSON {path!r} not found. The reference top-50 '
                'lists (folder{k}_top_50-similarity.json) come with the '
                'PromptHub data release; where to put them: '
                'docs/reproduction.md, section 1.') from e
        except ValueError as e:
            raise ValueError(
                f'Retrieval JSON {path!r} is not valid JSON ({e}); it may be '
                'truncated: copy or download it again.') from e
        if not isinstance(lists, dict) or not all(
                isinstance(v, list) for v in lists.values()):
            raise ValueError(f'{path!r} is not a {{query_name: [names]}} '
                             'retrieval JSON')
        if strip_ext:
            lists = {
                osp.splitext(str(q))[0]:
                [osp.splitext(str(n))[0] for n in names]
                for q, names in lists.items()
            }
        candidate_pos: Dict[str, int] = {}
        rows = []
        for names in lists.values():
            row = []
            for name in names:
                pos = candidate_pos.setdefault(str(name), len(candidate_pos))
                if pos not in row:
                    row.append(pos)
            rows.append(row)
        k = max((len(r) for r in rows), default=0)
        indices = np.full((len(rows), k), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            indices[i, :len(row)] = row
        query_names = [str(q) for q in lists]
        candidate_names = list(candidate_pos)
        with open(path, 'rb') as f:
            file_sha1 = hashlib.sha1(f.read()).hexdigest()
        fingerprint = make_fingerprint(
            query_names,
            candidate_names,
            source='reference_json',
            file=osp.basename(path),
            file_sha1=file_sha1,
            topk=k)
        return cls(query_names, candidate_names, indices, None, fingerprint)

    def to_reference_json(self, path: str) -> None:
        """Write the lists in the reference's ``{query_name: [names]}``
        format.

        Args:
            path (str): Output JSON file.
        """
        lists = {q: self.neighbours(q) for q in self.query_names}
        atomic_write(path, json.dumps(lists).encode('utf-8'))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_queries={len(self)}, '
                f'num_candidates={len(self.candidate_names)}, '
                f'topk={self.topk})')
