"""Data transforms of PromptHub (loading, prompt replacement, packing)."""
from .formatting import PackVICLInputs
from .inference_loading import LoadVICLInferencePair
from .loading import LoadVICLPair
from .pair_cache import PairCache
from .prompt_replacement import PromptReplacement

__all__ = [
    'LoadVICLInferencePair', 'LoadVICLPair', 'PackVICLInputs', 'PairCache',
    'PromptReplacement'
]
