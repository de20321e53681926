"""Does a retrieval index still describe the datasets it is used with?

An index built by ``tools/misc/build_retrieval_index.py`` records, in its
fingerprint's ``datasets`` entry, the hash and count of the ordered
distinct sample names of its query and candidate datasets. When samples
are added to a dataset afterwards, the index never retrieves them; when
samples are removed, it retrieves names that no longer exist. Both are
found here by recomputing the names of the datasets in use.

A dataset that wraps another (``HoldoutSubset``, mmengine's
``RepeatDataset`` ...: anything with a ``.dataset``) is a deliberate view:
the index is current when the wrapped dataset matches it, and the wrapper
only selects among its samples. A wrapped dataset without
``sample_name`` records (the stock mmseg dataset under
``StockSegToVICL``) is not a view and is not compared.
"""
from typing import Iterator, List, Optional, Sequence

from .fingerprint import collect_samples, names_hash

#: Longest ``.dataset`` chain followed.
MAX_WRAP_DEPTH = 8


def _name_levels(dataset, names: Sequence[str]) -> Iterator[List[str]]:
    """``names`` (the dataset's own), then those of each wrapped dataset,
    computed only when asked for."""
    yield list(names)
    for _ in range(MAX_WRAP_DEPTH):
        dataset = getattr(dataset, 'dataset', None)
        if not (hasattr(dataset, 'get_data_info')
                and hasattr(dataset, '__len__')):
            return
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        if len(dataset) and 'sample_name' not in dataset.get_data_info(0):
            # A source of derived records (StockSegToVICL's stock mmseg
            # dataset), not a view of named samples.
            return
        yield collect_samples(dataset)[0]


def _examples(names: Sequence[str], limit: int = 3) -> str:
    shown = ', '.join(repr(n) for n in names[:limit])
    return f' (e.g. {shown})' if names else ''


def describe_difference(recorded_sha1: str, recorded_num: int,
                        index_names: Sequence[str], dataset,
                        names: Sequence[str]) -> Optional[str]:
    """How a dataset differs from the one an index was built for.

    Args:
        recorded_sha1 (str): The recorded hash of the ordered names.
        recorded_num (int): The recorded number of names.
        index_names (Sequence[str]): The index's own name list (the
            recorded names when the index was built from the datasets).
        dataset: The dataset in use.
        names (Sequence[str]): Its ordered distinct sample names.

    Returns:
        str | None: None when the dataset, or one it wraps, has the
        recorded names (in any order); else a sentence with the counts of
        added and removed samples.
    """
    # The index's lists are the datasets' names (the tool's case), so the
    # exact difference can be named; a reordering alone changes nothing.
    full = names_hash(index_names) == recorded_sha1
    known = set(index_names) if full else None
    current: List[str] = []
    for current in _name_levels(dataset, names):
        if names_hash(current) == recorded_sha1 or (
                full and len(current) == len(known)
                and known.issuperset(current)):
            return None
    if not full:
        return (f'it was built for {recorded_num} distinct samples, the '
                f'dataset now has {len(current)} (other names)')
    now = set(current)
    added = [n for n in current if n not in known]
    removed = [n for n in index_names if n not in now]
    return (f'{len(added)} sample(s) added since it was built'
            f'{_examples(added)} and {len(removed)} removed'
            f'{_examples(removed)} ({recorded_num} then, {len(current)} now)')


def stale_datasets(index, query_dataset, query_names: Sequence[str],
                   prompt_dataset,
                   pool_names: Sequence[str]) -> Optional[List[str]]:
    """The differences between an index and the datasets it is used with.

    Args:
        index (RetrievalIndex): The index.
        query_dataset: The query dataset in use.
        query_names (Sequence[str]): Its ordered distinct sample names.
        prompt_dataset: The prompt pool in use.
        pool_names (Sequence[str]): Its ordered distinct sample names.

    Returns:
        list[str] | None: None when the index records no datasets (it
        cannot be checked), else one sentence per differing dataset (empty
        when the index is current).
    """
    recorded = getattr(index, 'fingerprint', {}).get('datasets')
    if not recorded:
        return None
    problems = []
    for what, dataset, names, index_names, key, num in (
        ('query', query_dataset, query_names, index.query_names,
         'query_names_sha1', 'num_queries'),
        ('prompt', prompt_dataset, pool_names, index.candidate_names,
         'candidate_names_sha1', 'num_candidates'),
    ):
        diff = describe_difference(recorded[key], recorded[num], index_names,
                                   dataset, names)
        if diff:
            problems.append(
                f'{what} dataset ({type(dataset).__name__}): {diff}')
    return problems
