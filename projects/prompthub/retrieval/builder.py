"""Build a retrieval index from two datasets: features, then top-k.

The product is a :class:`~.index.RetrievalIndex` whose fingerprint
records the datasets it was built for (``tools/misc/build_retrieval_index.py``
is the command-line front end).
"""
import os.path as osp
import tempfile
from typing import Optional, Tuple

from .features import FeatureExtractor
from .fingerprint import (as_dataset, collect_samples, make_fingerprint,
                          names_hash)
from .index import RetrievalIndex
from .topk import cosine_topk


def build_retrieval_index(
        query_dataset,
        candidate_dataset=None,
        model: str = 'vit_large_patch14_clip_224.laion2b',
        weights: Optional[str] = None,
        model_kwargs: Optional[dict] = None,
        feature: str = 'pixel',
        preprocess: Optional[dict] = None,
        topk: int = 50,
        exclude_self: Optional[bool] = None,
        batch_size: int = 16,
        num_workers: int = 0,
        chunk_size: int = 4096,
        query_chunk_size: Optional[int] = None,
        fp16: bool = False,
        device: str = 'cpu',
        feature_dir: Optional[str] = None,
        progress: bool = True) -> Tuple[RetrievalIndex, dict]:
    """Extract features of two datasets and retrieve top-k neighbours.

    Args:
        query_dataset (dict | Dataset): The queries; a config is built
            through ``projects.prompthub.registry.DATASETS``.
        candidate_dataset (dict | Dataset, optional): The prompt pool.
            Defaults to None: the query set itself (train -> train).
        model (str): timm model name.
        weights (str): Local weight file of ``model``.
        model_kwargs (dict, optional): Extra ``timm.create_model`` kwargs.
        feature (str): ``'pixel'`` or ``'pooled'``. Defaults to 'pixel'.
        preprocess (dict, optional): Overrides of the CLIP preprocessing.
        topk (int): Neighbours per query. Defaults to 50.
        exclude_self (bool, optional): Exclude a candidate named like the
            query. Defaults to None: True iff the candidates are the
            queries.
        batch_size (int): Images per forward. Defaults to 16.
        num_workers (int): Image-loading workers. Defaults to 0.
        chunk_size (int): Candidate rows per matrix product.
            Defaults to 4096.
        query_chunk_size (int, optional): Query rows per block.
            Defaults to ``chunk_size``.
        fp16 (bool): Store features in float16. Defaults to False.
        device (str): 'cpu' or 'cuda'. Defaults to 'cpu'.
        feature_dir (str, optional): Where the ``.npy`` feature stores are
            written, kept and reused when still valid. Defaults to None: a
            temporary directory (under ``$TMPDIR``) removed afterwards.
        progress (bool): Show progress bars. Defaults to True.

    Returns:
        tuple[RetrievalIndex, dict]: The index and run statistics
        (``images`` computed, of which ``changed`` since they were stored
        in ``feature_dir``, ``reused`` feature rows, ``extract_seconds``,
        ``images_per_second``, ``search_seconds``, ``peak_rss_mib``,
        ``peak_gpu_mib``). The index's fingerprint records the datasets
        (``datasets``, see :func:`datasets_fingerprint`).
    """
    import resource
    import time

    import torch

    same = candidate_dataset is None
    query_names, query_paths = collect_samples(as_dataset(query_dataset))
    if same:
        cand_names, cand_paths = query_names, query_paths
    else:
        cand_names, cand_paths = collect_samples(as_dataset(candidate_dataset))
    if exclude_self is None:
        exclude_self = same
    overlap = exclude_self and not set(query_names).isdisjoint(cand_names)
    available = len(cand_names) - int(overlap)
    if topk > available:
        raise ValueError(f'topk={topk} but only {available} candidates are '
                         'available per query')

    extractor = FeatureExtractor(
        model=model,
        weights=weights,
        feature=feature,
        preprocess=preprocess,
        model_kwargs=model_kwargs,
        device=device,
        fp16=fp16,
        batch_size=batch_size,
        num_workers=num_workers)
    if device != 'cpu' and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    tmp = None
    if feature_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix='prompthub_features_')
        feature_dir = tmp.name
    try:
        images, changed, reused, seconds = 0, 0, 0, 0.0
        stores = []
        for paths in ((query_paths, ) if same else (query_paths, cand_paths)):
            out_file = osp.join(feature_dir,
                                f'{feature}_{names_hash(paths)[:16]}.npy')
            stores.append(extractor.extract(paths, out_file, progress))
            images += extractor.last_stats['images']
            changed += extractor.last_stats['changed']
            reused += extractor.last_stats['reused']
            seconds += extractor.last_stats['seconds']
        query_feats, cand_feats = stores[0], stores[-1]
        start = time.perf_counter()
        indices, scores = cosine_topk(
            query_feats,
            cand_feats,
            topk,
            query_names=query_names,
            candidate_names=cand_names,
            exclude_self=exclude_self,
            chunk_size=chunk_size,
            query_chunk_size=query_chunk_size,
            device=device,
            normalize=False,
            progress=progress)
        search_seconds = time.perf_counter() - start
    finally:
        if tmp is not None:
            tmp.cleanup()

    fingerprint = make_fingerprint(
        query_names,
        cand_names,
        **extractor.describe(),
        topk=topk,
        exclude_self=bool(exclude_self),
        datasets=make_fingerprint(query_names, cand_names))
    index = RetrievalIndex(query_names, cand_names, indices, scores,
                           fingerprint)
    stats = dict(
        images=images,
        changed=changed,
        reused=reused,
        extract_seconds=seconds,
        images_per_second=images / seconds if seconds > 0 else float('nan'),
        search_seconds=search_seconds,
        # ru_maxrss is in KiB on Linux.
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mib=(torch.cuda.max_memory_allocated() / 2**20 if
                      device != 'cpu' and torch.cuda.is_available() else 0.0))
    return index, stats
