"""Runtime components: hooks."""
from .hooks import CacheStatsHook, RNGStateHook

__all__ = ['CacheStatsHook', 'RNGStateHook']
