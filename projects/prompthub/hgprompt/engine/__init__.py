from .hooks import (HGEnsembleWeightLoggerHook, HGPromptStageHook,
                    VPTPromptSaveHook)

__all__ = [
    'HGEnsembleWeightLoggerHook', 'HGPromptStageHook', 'VPTPromptSaveHook'
]
