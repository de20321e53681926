"""Utilities shared by tools and components."""
from .config_checks import (CfgOptionError, apply_cfg_options,
                            check_cfg_options, check_optimizer_values)
from .distributed import setup_cpu_distributed

__all__ = [
    'CfgOptionError', 'apply_cfg_options', 'check_cfg_options',
    'check_optimizer_values', 'setup_cpu_distributed'
]
