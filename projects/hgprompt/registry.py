"""Registries used by every HGPrompt component.

Like PromptHub's, these are MMEngine's root registries, so the classes
resolve by their bare names from our configs and from plain mmseg/mmdet
configs that only add ``projects.hgprompt`` to their ``custom_imports``.
"""
from mmengine.registry import (DATASETS, HOOKS, METRICS, MODELS,
                               OPTIM_WRAPPERS, TRANSFORMS)

__all__ = [
    'DATASETS', 'HOOKS', 'METRICS', 'MODELS', 'OPTIM_WRAPPERS', 'TRANSFORMS'
]
