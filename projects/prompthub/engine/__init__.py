"""Runtime components: hooks."""
from .hooks import RNGStateHook

__all__ = ['RNGStateHook']
