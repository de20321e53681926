"""The fingerprint of a retrieval index: what it was built for.

An index records hashes of its ordered query and candidate sample names and
everything else that decides the neighbours (model, preprocessing, top-k),
so that a file built for other datasets or settings is refused instead of
silently used (see :mod:`.freshness` for the message naming the change).
"""
import hashlib
import json
from typing import Dict, Iterable, List, Sequence, Tuple

from ..registry import DATASETS
from ..structures.record_contract import record_value


def names_hash(names: Iterable[str]) -> str:
    """SHA-1 of an ordered list of sample names.

    The order matters: ``indices`` refer to positions in the list.

    Args:
        names (Iterable[str]): Sample names.

    Returns:
        str: Hex digest.
    """
    sha = hashlib.sha1()
    for name in names:
        # A separator that cannot occur in a file stem keeps
        # ['ab', 'c'] and ['a', 'bc'] apart.
        sha.update(str(name).encode('utf-8'))
        sha.update(b'\0')
    return sha.hexdigest()


def jsonable(obj):
    """Round-trip through JSON so tuples compare equal to stored lists."""
    return json.loads(json.dumps(obj, sort_keys=True))


def make_fingerprint(query_names: Sequence[str],
                     candidate_names: Sequence[str], **fields) -> dict:
    """Build the fingerprint of an index.

    Args:
        query_names (Sequence[str]): Query sample names, in index order.
        candidate_names (Sequence[str]): Candidate sample names, in index
            order.
        **fields: Everything else that determines the neighbours, e.g.
            ``model``, ``weights`` (file name only), ``preprocess``,
            ``feature``, ``topk``, ``exclude_self``. Values must be
            JSON-serialisable.

    Returns:
        dict: A JSON-serialisable fingerprint.
    """
    fingerprint = dict(
        query_names_sha1=names_hash(query_names),
        num_queries=len(query_names),
        candidate_names_sha1=names_hash(candidate_names),
        num_candidates=len(candidate_names))
    fingerprint.update(fields)
    return jsonable(fingerprint)


def fingerprint_diff(stored: dict, expected: dict) -> List[str]:
    """Keys of ``expected`` whose value differs from (or is missing in)
    ``stored``.

    Keys only present in ``stored`` are ignored, so a caller may check a
    partial fingerprint (e.g. only the name hashes).

    Args:
        stored (dict): The fingerprint read from a file.
        expected (dict): The fingerprint the caller requires.

    Returns:
        list[str]: Sorted differing keys (empty when consistent).
    """
    expected = jsonable(expected)
    missing = object()
    return sorted(k for k, v in expected.items()
                  if stored.get(k, missing) != v)


def collect_samples(dataset) -> Tuple[List[str], List[str]]:
    """Distinct sample names of a dataset and their image paths.

    Records sharing a ``sample_name`` (one image listed once per class)
    give one entry, at the first record's position; the retrieval index's
    name lists are made this way.

    Args:
        dataset: Anything with ``len()`` and ``get_data_info(i)`` returning
            ``img_path`` and ``sample_name`` (docs/design.md).

    Returns:
        tuple[list[str], list[str]]: Names and image paths.

    Raises:
        MissingRecordKeyError: A record lacks one of the two keys (a
            stock mmseg dataset: wrap it in ``StockSegToVICL``).
        ValueError: If one name is given two different image paths.
    """
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    path_of: Dict[str, str] = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        name = str(
            record_value(info, 'sample_name', i, dataset,
                         'the retrieval index'))
        path = str(
            record_value(info, 'img_path', i, dataset, 'the retrieval index'))
        first = path_of.setdefault(name, path)
        if first != path:
            raise ValueError(
                f'sample_name {name!r} names two images, {first!r} and '
                f'{path!r}; the retrieval key must identify one image')
    return list(path_of), list(path_of.values())


def as_dataset(dataset):
    """A dataset from a config (``projects.prompthub.registry.DATASETS``)
    or as given."""
    if isinstance(dataset, dict):
        return DATASETS.build(dataset)
    return dataset


def datasets_fingerprint(query_dataset, candidate_dataset=None) -> dict:
    """The ``datasets`` entry of the fingerprint of an index made for these
    datasets: hashes and counts of their ordered distinct sample names
    (:func:`collect_samples`).

    Args:
        query_dataset (dict | Dataset): The queries, or their config.
        candidate_dataset (dict | Dataset, optional): The prompt pool.
            Defaults to None: the query set itself.

    Returns:
        dict: ``query_names_sha1``, ``num_queries``,
        ``candidate_names_sha1`` and ``num_candidates``.
    """
    query_names, _ = collect_samples(as_dataset(query_dataset))
    cand_names = query_names
    if candidate_dataset is not None:
        cand_names, _ = collect_samples(as_dataset(candidate_dataset))
    return make_fingerprint(query_names, cand_names)
