"""Compatibility fixes for the pinned stack, applied on import.

mmengine 0.10.7 loads checkpoints with ``torch.load`` and torch >= 2.6 made
``weights_only=True`` the default. An MMEngine checkpoint holds, besides
tensors, the message hub's :class:`HistoryBuffer` objects and numpy arrays
and scalars, which the safe unpickler rejects, so ``resume``/``load_from``
and ``tools/test.py`` fail. Instead of switching safe loading off globally
(``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``) we allow-list exactly the classes an
MMEngine checkpoint legitimately contains. Any other global in a user's
file is still refused by torch.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> list:
    """Globals that numpy arrays and scalars pickle through."""
    from numpy import dtypes
    names = ('_reconstruct', 'scalar')
    core = getattr(np, '_core', None) or np.core
    found = [getattr(core.multiarray, name) for name in names]
    dtype_classes = [
        getattr(dtypes, name) for name in dir(dtypes)
        if name.endswith('DType') and isinstance(getattr(dtypes, name), type)
    ]
    return found + [np.ndarray, np.dtype] + dtype_classes


def history_buffer_getattr(obj, name: str):
    """A ``getattr`` restricted to HistoryBuffer's statistics methods.

    A pickled :class:`HistoryBuffer` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allow-listing the real builtin
    ``getattr`` would let a checkpoint fetch any attribute of any allowed
    object, so the name ``builtins.getattr`` is mapped to this function.

    Raises:
        pickle.UnpicklingError: For anything but those methods.
    """
    # The built-in statistics are added to the class dict lazily, by the
    # first HistoryBuffer created, so name them explicitly.
    methods = {'min', 'max', 'current', 'mean'}
    methods.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in methods:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint '
        'safely: only HistoryBuffer statistics methods '
        f'{sorted(methods)} are allowed.')


def checkpoint_safe_globals() -> list:
    """Return the allow-list registered for ``torch.load(weights_only)``.

    Returns:
        list: Classes and functions an MMEngine checkpoint may reference
        (a ``(function, name)`` tuple maps a pickled name to a safe
        stand-in).
    """
    return [HistoryBuffer,
            (history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def register_checkpoint_safe_globals() -> None:
    """Allow-list MMEngine checkpoint contents for safe ``torch.load``."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


register_checkpoint_safe_globals()
