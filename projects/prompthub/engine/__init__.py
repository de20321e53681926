"""Runtime components: hooks."""
from .hooks import CacheStatsHook, MainProcessLoggerHook, RNGStateHook

__all__ = ['CacheStatsHook', 'MainProcessLoggerHook', 'RNGStateHook']
