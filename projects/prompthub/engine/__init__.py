"""Runtime components: hooks and the runner."""
from .hooks import CacheStatsHook, MainProcessLoggerHook, RNGStateHook
from .runners import StrictLoadRunner

__all__ = [
    'CacheStatsHook', 'MainProcessLoggerHook', 'RNGStateHook',
    'StrictLoadRunner'
]
