from .vtab1k import HGLoadImage, HGPackClsInputs, VTAB1kDataset
from .vtab_suite import TASK_GENERATORS, make_vtab_suite, write_vtab_task

__all__ = [
    'HGLoadImage', 'HGPackClsInputs', 'VTAB1kDataset', 'TASK_GENERATORS',
    'make_vtab_suite', 'write_vtab_task'
]
