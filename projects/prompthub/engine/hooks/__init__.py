"""Hooks of the PromptHub runtime."""
from .cache_stats_hook import CacheStatsHook
from .rng_state_hook import RNGStateHook

__all__ = ['CacheStatsHook', 'RNGStateHook']
