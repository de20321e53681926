"""High-level APIs: the inferencer and the CPU demo."""
from .demo import run_demo, score_rows, summarise
from .inferencer import PromptHubInferencer

__all__ = ['PromptHubInferencer', 'run_demo', 'score_rows', 'summarise']
