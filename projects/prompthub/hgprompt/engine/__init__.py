from .grad_surgery import HGPCGradOptimWrapper, pcgrad
from .hooks import (HGEnsembleWeightLoggerHook, HGPromptStageHook,
                    VPTPromptSaveHook)

__all__ = [
    'HGPCGradOptimWrapper', 'pcgrad', 'HGEnsembleWeightLoggerHook',
    'HGPromptStageHook', 'VPTPromptSaveHook'
]
