"""Write the per-task VTAB-1k configs and their model-index entries.

Each of the 19 VTAB-1k tasks gets two small leaf configs in
``configs/hgprompt/``, written from the task table
(:mod:`projects.hgprompt.datasets.vtab_tasks`) so that a class count is
stated once:

- ``vpt-deep_vit-b16_vtab1k-<task>.py``: VPT-deep on the task, the source
  prompt of the bank (recipe: ``_base_/vpt-deep_vit-b16_vtab1k.py``);
- ``hgprompt_vit-b16_vtab1k-<task>.py``: HGPrompt with the task as the
  target (recipe: ``_base_/hgprompt_vit-b16_vtab1k.py``).

Their entries in ``configs/hgprompt/metafile.yaml`` are written between
two marker comments. ``projects/hgprompt/tools/make_vtab_configs.py``
writes both; ``--check`` only compares.
"""
import os.path as osp
import textwrap
from typing import Dict, List

from projects.hgprompt.datasets.vtab_tasks import VTAB1K_TASKS, VTABTask
from projects.prompthub.utils.atomic_io import atomic_write

CONFIG_DIR = osp.join('configs', 'hgprompt')
METAFILE = osp.join(CONFIG_DIR, 'metafile.yaml')
GENERATOR = 'projects/hgprompt/tools/make_vtab_configs.py'
TABLE = 'projects/hgprompt/datasets/vtab_tasks.py'
BEGIN = (f'# >>> VTAB-1k entries written by {GENERATOR} from {TABLE}; '
         'edit those, not these lines')
END = '# <<< end of the written VTAB-1k entries'

#: Method -> (config name prefix, recipe, one-line purpose).
METHODS = {
    'vpt': ('vpt-deep_vit-b16_vtab1k', 'vpt-deep_vit-b16_vtab1k.py',
            'VPT-deep (the source prompt of the bank, saved to prompt.pth)'),
    'hgprompt':
    ('hgprompt_vit-b16_vtab1k', 'hgprompt_vit-b16_vtab1k.py',
     'HGPrompt, target of leave-one-out transfer from the other tasks'),
}


def config_name(method: str, task: str) -> str:
    """File name of a task's config (``hgprompt_vit-b16_vtab1k-dtd.py``).

    Args:
        method (str): ``'vpt'`` or ``'hgprompt'``.
        task (str): A VTAB-1k task name.
    """
    return f'{METHODS[method][0]}-{task}.py'


def render_config(method: str, task: VTABTask) -> str:
    """The text of one leaf config: the task and its class count; the
    bases refer to them as ``'${task}'`` and ``'${num_classes}'``."""
    _, recipe, purpose = METHODS[method]
    header = textwrap.wrap(
        f'VTAB-1k {task.name} ({task.group}; {task.description}, '
        f'{task.num_classes} classes): {purpose}. Written by {GENERATOR} '
        f'from {TABLE}: edit those, not this file.',
        width=77,
        break_on_hyphens=False)
    return (''.join(f'# {line}\n'
                    for line in header) + f"_base_ = ['./_base_/{recipe}']\n"
            f"task = '{task.name}'\n"
            f'num_classes = {task.num_classes}\n')


def render_metafile_block() -> str:
    """The metafile entries of every written config, between the markers."""
    lines = [BEGIN]
    for method in METHODS:
        for task in VTAB1K_TASKS.values():
            name = config_name(method, task.name)[:-3]
            what = ('VPT-deep source prompt'
                    if method == 'vpt' else 'HGPrompt target')
            lines += [
                f'- Name: {name}',
                '  In Collection: HGPrompt',
                f"  Description: '{what}, VTAB-1k {task.name} "
                f"({task.group}, {task.num_classes} classes)'",
                f'  Config: {CONFIG_DIR}/{name}.py',
                '  Metadata:',
                '    Task: Image Classification',
                f'    Training Data: VTAB-1k {task.name} (NOAH layout)',
                '    Batch Size: 128',
                '    Architecture:',
                '    - HGPromptClassifier',
                '    - VPTPromptedViT',
                '  Note: not run here, no GPU and no data',
            ]
    return '\n'.join(lines + [END])


def expected_files(root: str) -> Dict[str, str]:
    """Path -> text of every file the generator owns (whole configs; the
    metafile with its block replaced)."""
    files = {}
    for method in METHODS:
        for task in VTAB1K_TASKS.values():
            path = osp.join(root, CONFIG_DIR, config_name(method, task.name))
            files[path] = render_config(method, task)
    metafile = osp.join(root, METAFILE)
    with open(metafile, encoding='utf-8') as f:
        text = f.read()
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(
            f'{metafile}: the markers of the VTAB-1k block are missing; put '
            f'these two lines at the end of its Models list:\n{BEGIN}\n{END}')
    files[metafile] = (
        text[:start] + render_metafile_block() + text[stop + len(END):])
    return files


def write_vtab_configs(root: str, check: bool = False) -> List[str]:
    """Write (or, with ``check``, only compare) the generated files.

    Args:
        root (str): The repository root.
        check (bool): Compare only; write nothing.

    Returns:
        list[str]: The files that differed (and, unless ``check``, were
        rewritten), relative to ``root``.
    """
    changed = []
    for path, text in expected_files(root).items():
        old = None
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                old = f.read()
        if old != text:
            changed.append(osp.relpath(path, root))
            if not check:
                atomic_write(path, text)
    return changed
