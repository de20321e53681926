from .vtab1k import HGLoadImage, HGPackClsInputs, VTAB1kDataset
from .vtab_suite import (TASK_GENERATORS, make_fake_vtab1k, make_vtab_suite,
                         write_vtab_task)
from .vtab_tasks import (VTAB1K_GROUPS, VTAB1K_TASKS, VTABTask, tasks_in_group,
                         vtab_task)

__all__ = [
    'HGLoadImage', 'HGPackClsInputs', 'VTAB1kDataset', 'TASK_GENERATORS',
    'make_fake_vtab1k', 'make_vtab_suite', 'write_vtab_task', 'VTAB1K_GROUPS',
    'VTAB1K_TASKS', 'VTABTask', 'tasks_in_group', 'vtab_task'
]
