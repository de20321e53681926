"""Pick the checkpoint a ``--resume`` run continues from, or refuse.

MMEngine's auto-resume reads ``<work_dir>/last_checkpoint`` and loads the
file it names, whatever state it is in. After a kill during a save that
file may be truncated or gone (mmengine 0.10.7's ``CheckpointHook`` removes
the old checkpoint before it writes the new one). Here:

* :func:`find_resume_checkpoint` (``--resume`` without a path) returns the
  file ``last_checkpoint`` names when it is readable, else the newest
  readable checkpoint of the work dir, with a WARNING naming the bad file
  and the one used; it raises when checkpoints exist but none is readable.
* :func:`check_resume_checkpoint` (``--resume PATH``) raises when ``PATH``
  is not readable, naming it; it never picks another file on its own.

"Readable" is decided by :func:`checkpoint_problem`: ``torch.load`` (the
loader ``Runner.resume`` uses, memory-mapped) succeeds, the result has the
keys a resume needs and the zip records pass their CRC check.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Iterable, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log

# What Runner.resume reads; a best_* checkpoint lacks 'optimizer'.
RESUME_KEYS = ('meta', 'state_dict', 'message_hub')
DEFAULT_FILENAME_TMPLS = ('epoch_{}.pth', 'iter_{}.pth')


def _is_remote(path: str) -> bool:
    return '://' in path


def checkpoint_problem(
        path: str,
        required_keys: Sequence[str] = RESUME_KEYS) -> Optional[str]:
    """Say why ``path`` cannot be resumed from, or return None.

    Args:
        path (str): A local checkpoint file.
        required_keys (Sequence[str]): Top-level keys the checkpoint must
            have. Defaults to :data:`RESUME_KEYS`.

    Returns:
        str | None: A short reason (missing, empty, truncated or damaged,
        not loadable, keys missing); None for a usable checkpoint.
    """
    if not osp.exists(path):
        return 'the file does not exist'
    if not osp.isfile(path):
        return 'it is not a file'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    is_zip = zipfile.is_zipfile(path)
    try:
        # The default (weights_only) loader, as Runner.resume uses it; the
        # tensors are memory-mapped so the check reads little of the file.
        checkpoint = torch.load(path, map_location='cpu', mmap=is_zip)
    except Exception as err:  # any failure means Runner.resume fails too
        first_line = (str(err).strip().splitlines() or [''])[0]
        return (f'torch.load failed ({type(err).__name__}: '
                f'{first_line[:300]})')
    if not isinstance(checkpoint, dict):
        return f'it holds a {type(checkpoint).__name__}, not a checkpoint dict'
    missing = [key for key in required_keys if key not in checkpoint]
    del checkpoint
    if missing:
        return (f'it has no {missing}, which a resume needs (best_* and '
                'published checkpoints keep only the weights: start a new '
                'training from them with load_from instead)')
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            return f'the record {damaged!r} fails its CRC check (damaged)'
    return None


def _tmpl_pattern(filename_tmpl: str) -> 're.Pattern':
    head, _, tail = filename_tmpl.partition('{}')
    return re.compile(f'^{re.escape(head)}(\\d+){re.escape(tail)}$')


def list_checkpoints(
        folders: Iterable[str],
        filename_tmpls: Sequence[str] = DEFAULT_FILENAME_TMPLS) -> List[str]:
    """The periodic checkpoints in ``folders``, newest first.

    Newest means the largest step number in the name (``epoch_{}.pth``,
    ``iter_{}.pth`` or the given templates), then the latest modification
    time. ``best_*`` checkpoints and unfinished temporary files do not match
    the templates and are not listed.
    """
    patterns = [_tmpl_pattern(tmpl) for tmpl in filename_tmpls]
    found = {}
    for folder in folders:
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            path = osp.join(folder, name)
            for pattern in patterns:
                match = pattern.match(name)
                if match and osp.isfile(path):
                    key = (int(match.group(1)), osp.getmtime(path))
                    found[osp.abspath(path)] = key
                    break
    return sorted(found, key=found.get, reverse=True)


def _first_readable(
    paths: Iterable[str], required_keys: Sequence[str]
) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The first readable path and the (path, reason) of those before it."""
    bad = []
    for path in paths:
        problem = checkpoint_problem(path, required_keys)
        if problem is None:
            return path, bad
        bad.append((path, problem))
    return None, bad


def _describe(bad: List[Tuple[str, str]]) -> str:
    return '; '.join(f'{path}: {reason}' for path, reason in bad)


def find_resume_checkpoint(
        work_dir: str,
        extra_dirs: Sequence[str] = (),
        filename_tmpls: Sequence[str] = DEFAULT_FILENAME_TMPLS,
        required_keys: Sequence[str] = RESUME_KEYS) -> Optional[str]:
    """The checkpoint an auto ``--resume`` continues from.

    Args:
        work_dir (str): The run's work dir, holding ``last_checkpoint``.
        extra_dirs (Sequence[str]): Further folders the checkpoints may be
            in (the checkpoint hook's ``out_dir``).
        filename_tmpls (Sequence[str]): Names of periodic checkpoints.
        required_keys (Sequence[str]): See :func:`checkpoint_problem`.

    Returns:
        str | None: The file ``last_checkpoint`` names when it is readable
        (a remote path is returned unchecked), else the newest readable
        checkpoint (with a WARNING); None when there is no checkpoint at
        all (the run starts from scratch, as MMEngine does).

    Raises:
        RuntimeError: Checkpoints exist but none is readable.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = None
    bad = []
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and _is_remote(named):
            return named
        if named:
            problem = checkpoint_problem(named, required_keys)
            if problem is None:
                return named
            bad.append((named, problem + f' (named by {pointer})'))
        else:
            bad.append((pointer, 'it is empty'))
    folders = [work_dir, *extra_dirs]
    if named:
        folders.append(osp.dirname(osp.abspath(named)))
    candidates = [
        path for path in list_checkpoints(folders, filename_tmpls)
        if not named or path != osp.abspath(named)
    ]
    found, bad_candidates = _first_readable(candidates, required_keys)
    bad += bad_candidates
    if found is not None:
        why = _describe(bad) if bad else f'{pointer} is missing'
        print_log(
            f'Cannot resume from the latest checkpoint: {why}. Resuming '
            f'from the newest readable checkpoint {found} instead.',
            logger='current',
            level=logging.WARNING)
        return found
    if bad:
        raise RuntimeError(
            f'--resume: no readable checkpoint in {sorted(set(folders))}: '
            f'{_describe(bad)}. They were probably cut short by a kill '
            'while being saved. Resume from another copy with --resume '
            'PATH, or move these files away and train from scratch.')
    return None


def check_resume_checkpoint(
        path: str,
        filename_tmpls: Sequence[str] = DEFAULT_FILENAME_TMPLS,
        required_keys: Sequence[str] = RESUME_KEYS) -> None:
    """Refuse an explicit ``--resume PATH`` that cannot be resumed from.

    Args:
        path (str): The checkpoint given by the user (a remote path is not
            checked).
        filename_tmpls (Sequence[str]): Names of periodic checkpoints, to
            suggest a readable one next to ``path``.
        required_keys (Sequence[str]): See :func:`checkpoint_problem`.

    Raises:
        RuntimeError: ``path`` is missing, truncated, damaged or lacks the
            keys a resume needs; the message names it and the newest
            readable checkpoint in its folder, if any.
    """
    if _is_remote(path):
        return
    problem = checkpoint_problem(path, required_keys)
    if problem is None:
        return
    folder = osp.dirname(osp.abspath(path))
    others = [
        p for p in list_checkpoints([folder], filename_tmpls)
        if p != osp.abspath(path)
    ]
    found, _ = _first_readable(others, required_keys)
    hint = (f'The newest readable checkpoint next to it is {found}.'
            if found else f'No other checkpoint in {folder} is readable.')
    raise RuntimeError(
        f'Cannot resume from {path}: {problem}. {hint} Pass a readable '
        'checkpoint with --resume PATH, or --resume without a path to take '
        'the newest readable checkpoint of the work dir.')
