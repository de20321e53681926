"""High-level APIs: the inferencer and the output options of
``tools/test.py``."""
from .inferencer import PromptHubInferencer
from .test_outputs import enable_visualization, set_prediction_output

__all__ = [
    'PromptHubInferencer', 'enable_visualization', 'set_prediction_output'
]
