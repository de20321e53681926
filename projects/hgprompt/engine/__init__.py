from .grad_surgery import HGPCGradOptimWrapper, pcgrad
from .hooks import (HGEnsembleWeightLoggerHook, HGPromptStageHook,
                    HGSourceOverlapHook, VPTPromptSaveHook)
from .visualization_hook import HGClsVisualizationHook

__all__ = [
    'HGPCGradOptimWrapper', 'pcgrad', 'HGClsVisualizationHook',
    'HGEnsembleWeightLoggerHook', 'HGPromptStageHook', 'HGSourceOverlapHook',
    'VPTPromptSaveHook'
]
