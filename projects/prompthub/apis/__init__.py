"""High-level APIs: the inferencer."""
from .inferencer import PromptHubInferencer

__all__ = ['PromptHubInferencer']
