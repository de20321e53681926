"""VICL models (mmseg segmentors)."""
from .prompthub import PromptHub
from .vicl_inpainter import VICLInpainter

__all__ = ['PromptHub', 'VICLInpainter']
