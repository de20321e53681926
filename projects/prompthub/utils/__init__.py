"""Utilities shared by tools and components."""
from .distributed import global_batch_size, setup_cpu_distributed
from .global_batch import split_global_batch

__all__ = ['setup_cpu_distributed', 'global_batch_size', 'split_global_batch']
