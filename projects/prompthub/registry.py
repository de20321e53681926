"""Registries used by every PromptHub component.

We register into MMEngine's *root* registries. Every OpenMMLab codebase
(mmseg, mmdet, mmpretrain, ...) declares its registries as children of
these roots, and a child registry falls back to its parent when a name is
not found. Registering at the root therefore makes our components resolve
by their bare names from our own configs (``default_scope='mmseg'``) *and*
from plain mmseg or mmdet configs that only add our ``custom_imports``,
with no ``mmseg.``/``mmdet.`` prefixes and no private scope to declare.
Our class names are globally unique (``PromptHub``/``VICL`` prefixes or
suffixes), so sharing the root namespace is safe. Builds that go through
these registries honour the run's ``default_scope``, so nested configs
inside our modules may name mmseg/mmdet components as usual.
"""
from mmengine.registry import (DATASETS, HOOKS, METRICS, MODELS, RUNNERS,
                               TRANSFORMS, VISUALIZERS, WEIGHT_INITIALIZERS)

__all__ = [
    'DATASETS', 'HOOKS', 'METRICS', 'MODELS', 'RUNNERS', 'TRANSFORMS',
    'VISUALIZERS', 'WEIGHT_INITIALIZERS'
]
