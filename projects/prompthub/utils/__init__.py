"""Utilities shared by tools and components."""
from .atomic_file_backend import AtomicLocalBackend
from .atomic_io import atomic_write
from .distributed import global_batch_size, setup_cpu_distributed
from .global_batch import split_global_batch

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'setup_cpu_distributed',
    'global_batch_size', 'split_global_batch'
]
