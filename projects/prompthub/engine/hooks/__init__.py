"""Hooks of the PromptHub runtime."""
from .cache_stats_hook import CacheStatsHook
from .main_process_logger_hook import MainProcessLoggerHook
from .rng_state_hook import RNGStateHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .vicl_visualization_hook import VICLVisualizationHook

__all__ = [
    'CacheStatsHook', 'MainProcessLoggerHook', 'RNGStateHook',
    'SafeCheckpointHook', 'VICLVisualizationHook'
]
