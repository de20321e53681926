"""The 19 VTAB-1k tasks: NOAH folder names, class counts and groups.

This table is the one place these facts live. The per-task configs in
``configs/hgprompt/`` are written from it by
``projects/hgprompt/tools/make_vtab_configs.py``, the evaluation protocol
iterates over it and the aggregator groups its results by it.

Folder names are those of the NOAH layout (``vtab-1k/<task>/``), which
VPT-family code (NOAH, FacT, RepAdapter, SPT, ...) shares; class counts are
those of VPT's ``tune_vtab.py``. The order is VTAB's: natural,
specialized, structured.
"""
import difflib
from typing import Dict, List, NamedTuple

#: The three VTAB-1k groups, in VTAB's order.
VTAB1K_GROUPS = ('natural', 'specialized', 'structured')


class VTABTask(NamedTuple):
    """One VTAB-1k task.

    Attributes:
        name (str): NOAH folder name, also the task name in prompt files.
        num_classes (int): Number of classes (the head size).
        group (str): One of ``VTAB1K_GROUPS``.
        description (str): What is predicted (for tables and configs).
    """
    name: str
    num_classes: int
    group: str
    description: str


_TASKS = (
    VTABTask('cifar', 100, 'natural', 'CIFAR-100 object class'),
    VTABTask('caltech101', 102, 'natural', 'Caltech-101 object class'),
    VTABTask('dtd', 47, 'natural', 'DTD texture class'),
    VTABTask('oxford_flowers102', 102, 'natural', 'Oxford flower species'),
    VTABTask('oxford_iiit_pet', 37, 'natural', 'Oxford-IIIT pet breed'),
    VTABTask('svhn', 10, 'natural', 'SVHN house-number digit'),
    VTABTask('sun397', 397, 'natural', 'SUN397 scene class'),
    VTABTask('patch_camelyon', 2, 'specialized',
             'PatchCamelyon metastatic tissue'),
    VTABTask('eurosat', 10, 'specialized', 'EuroSAT land-use class'),
    VTABTask('resisc45', 45, 'specialized', 'RESISC45 remote-sensing scene'),
    VTABTask('diabetic_retinopathy', 5, 'specialized',
             'diabetic retinopathy grade'),
    VTABTask('clevr_count', 8, 'structured', 'CLEVR object count'),
    VTABTask('clevr_dist', 6, 'structured',
             'CLEVR distance of the closest object'),
    VTABTask('dmlab', 6, 'structured', 'DMLab distance to the reward'),
    VTABTask('kitti', 4, 'structured',
             'KITTI distance of the closest vehicle'),
    VTABTask('dsprites_loc', 16, 'structured', 'dSprites x position bin'),
    VTABTask('dsprites_ori', 16, 'structured', 'dSprites orientation bin'),
    VTABTask('smallnorb_azi', 18, 'structured', 'smallNORB azimuth'),
    VTABTask('smallnorb_ele', 9, 'structured', 'smallNORB elevation'),
)

#: Task name -> :class:`VTABTask`, in VTAB's order.
VTAB1K_TASKS: Dict[str, VTABTask] = {t.name: t for t in _TASKS}


def vtab_task(name: str) -> VTABTask:
    """Look a task up by its NOAH folder name.

    Args:
        name (str): E.g. ``'dtd'`` or ``'clevr_count'``.

    Raises:
        KeyError: For an unknown name, with the closest known ones.
    """
    if name not in VTAB1K_TASKS:
        close = difflib.get_close_matches(name, VTAB1K_TASKS, n=3)
        hint = f' Did you mean {", ".join(close)}?' if close else ''
        raise KeyError(f'{name!r} is not a VTAB-1k task (NOAH folder '
                       f'names: {", ".join(VTAB1K_TASKS)}).{hint}')
    return VTAB1K_TASKS[name]


def tasks_in_group(group: str) -> List[str]:
    """The task names of one group, in VTAB's order.

    Args:
        group (str): One of ``VTAB1K_GROUPS``.
    """
    if group not in VTAB1K_GROUPS:
        raise KeyError(f'{group!r} is not a VTAB-1k group; groups: '
                       f'{", ".join(VTAB1K_GROUPS)}')
    return [t.name for t in _TASKS if t.group == group]
