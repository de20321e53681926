"""Data transforms of PromptHub (loading, prompt replacement, packing)."""
from .formatting import PackVICLInputs
from .loading import LoadVICLPair
from .prompt_replacement import PromptReplacement

__all__ = ['LoadVICLPair', 'PackVICLInputs', 'PromptReplacement']
