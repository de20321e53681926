"""Hooks of the PromptHub runtime."""
from .rng_state_hook import RNGStateHook

__all__ = ['RNGStateHook']
