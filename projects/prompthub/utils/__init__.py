"""Utilities shared by tools and components."""
from .atomic_write import AtomicLocalBackend, atomic_write
from .distributed import setup_cpu_distributed

__all__ = ['AtomicLocalBackend', 'atomic_write', 'setup_cpu_distributed']
