"""HGPrompt: multi-source visual prompt ensemble transfer on a timm ViT.

A second method, independent of PromptHub's models: VPT prompts
trained on source tasks are combined for a target task by ensemble
weights learned with a regularised H-score and a gradient-alignment
regulariser, then tuned (two stages). See ``projects/hgprompt/README.md``.
It runs on PromptHub's engine (runner, checkpoint and RNG hooks) and
shared utilities; ``projects.prompthub`` never imports this package.

Importing this package registers its components; ``__all__`` lists the
registered classes (helpers live in the subpackages).
"""
from .datasets import HGLoadImage, HGPackClsInputs, VTAB1kDataset
from .engine import (HGEnsembleWeightLoggerHook, HGPCGradOptimWrapper,
                     HGPromptStageHook, HGSourceOverlapHook, VPTPromptSaveHook)
from .evaluation import HGAccuracy
from .models import (HGGradAlignLoss, HGHScoreLoss, HGPromptClassifier,
                     VPTPromptedViT)

__all__ = [
    'HGLoadImage', 'HGPackClsInputs', 'VTAB1kDataset',
    'HGEnsembleWeightLoggerHook', 'HGPCGradOptimWrapper', 'HGPromptStageHook',
    'HGSourceOverlapHook', 'VPTPromptSaveHook', 'HGAccuracy',
    'HGGradAlignLoss', 'HGHScoreLoss', 'HGPromptClassifier', 'VPTPromptedViT'
]
