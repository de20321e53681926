"""Utilities shared by tools and components."""
from .atomic_file_backend import AtomicLocalBackend
from .atomic_io import atomic_write
from .config_checks import (CfgOptionError, apply_cfg_options,
                            check_cfg_options, check_optimizer_values,
                            load_config)
from .config_references import ConfigReferenceError, resolve_config_references
from .distributed import (close_distributed, global_batch_size,
                          setup_cpu_distributed)
from .global_batch import split_global_batch
from .validation import check_choice, check_count, check_probability

__all__ = [
    'AtomicLocalBackend', 'atomic_write', 'CfgOptionError',
    'apply_cfg_options', 'check_cfg_options', 'check_optimizer_values',
    'ConfigReferenceError', 'load_config', 'resolve_config_references',
    'check_choice', 'check_count', 'check_probability',
    'setup_cpu_distributed', 'close_distributed', 'global_batch_size',
    'split_global_batch'
]
