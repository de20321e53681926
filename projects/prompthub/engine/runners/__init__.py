"""Runners of the PromptHub runtime."""
from .strict_load_runner import StrictLoadRunner

__all__ = ['StrictLoadRunner']
