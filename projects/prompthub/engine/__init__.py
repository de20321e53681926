"""Runtime components: hooks, the runner and the choice of the resume
checkpoint."""
from .hooks import (CacheStatsHook, MainProcessLoggerHook, RNGStateHook,
                    SafeCheckpointHook, VICLVisualizationHook)
from .resume_point import (check_resume_checkpoint, checkpoint_problem,
                           find_resume_checkpoint)
from .runners import StrictLoadRunner

__all__ = [
    'CacheStatsHook', 'MainProcessLoggerHook', 'RNGStateHook',
    'SafeCheckpointHook', 'StrictLoadRunner', 'check_resume_checkpoint',
    'checkpoint_problem', 'find_resume_checkpoint', 'VICLVisualizationHook'
]
