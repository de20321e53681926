"""Hooks of the PromptHub runtime."""
from .cache_stats_hook import CacheStatsHook
from .main_process_logger_hook import MainProcessLoggerHook
from .rng_state_hook import RNGStateHook

__all__ = ['CacheStatsHook', 'MainProcessLoggerHook', 'RNGStateHook']
