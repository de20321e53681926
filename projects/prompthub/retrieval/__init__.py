"""Offline prompt retrieval: features, top-k search and the index file."""
from .builder import build_retrieval_index
from .features import (CLIP_MEAN, CLIP_STD, DEFAULT_MODEL, DEFAULT_PREPROCESS,
                       FeatureExtractor, FeatureStore, FeatureWriter,
                       build_preprocess, load_timm_model)
from .fingerprint import (collect_samples, datasets_fingerprint,
                          fingerprint_diff, make_fingerprint, names_hash)
from .index import RetrievalIndex, rebuild_command
from .topk import cosine_topk

__all__ = [
    'CLIP_MEAN', 'CLIP_STD', 'DEFAULT_MODEL', 'DEFAULT_PREPROCESS',
    'FeatureExtractor', 'FeatureStore', 'FeatureWriter', 'RetrievalIndex',
    'build_preprocess', 'build_retrieval_index', 'collect_samples',
    'cosine_topk', 'datasets_fingerprint', 'fingerprint_diff',
    'load_timm_model', 'make_fingerprint', 'names_hash', 'rebuild_command'
]
