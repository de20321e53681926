"""Save and restore random-number-generator states with checkpoints."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from projects.prompthub.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make ``resume`` continue the exact random stream of the run.

    MMEngine re-seeds every generator when a resumed run starts, so the
    epochs after a resume see other dropout masks and other prompt
    replacements than an uninterrupted run would. This hook stores the
    Python, numpy and torch (CPU and, when present, CUDA) generator states
    in every checkpoint and restores them on resume, so "2 epochs + resume
    to 4" equals "4 epochs" bit for bit (in-process data loading; worker
    processes are re-seeded by MMEngine per epoch either way).

    Validation draws random numbers too (every DataLoader iterator takes a
    seed from torch's generator), and in an uninterrupted run it happens
    after the checkpoint is written. The hook therefore also makes
    validation neutral: the states are captured before a validation epoch
    and put back after it, so training sees the same stream with or
    without validation, resumed or not.

    Args:
        priority (str): Hook priority. Defaults to ``'VERY_LOW'`` so the
            state is captured after every other hook has run.
    """

    priority = 'VERY_LOW'

    def __init__(self, priority: Optional[str] = None) -> None:
        if priority is not None:
            self.priority = priority
        self._state_before_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add the generator states to ``checkpoint['rng_state']``."""
        # A checkpoint written during validation (e.g. ``save_best``) must
        # hold the training stream, not validation's.
        checkpoint['rng_state'] = (self._state_before_val or get_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Restore the generator states saved by this hook, if any."""
        if 'rng_state' in checkpoint:
            set_rng_state(checkpoint['rng_state'])

    def before_val_epoch(self, runner) -> None:
        """Remember the training stream before validation draws from it."""
        self._state_before_val = get_rng_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Put the training stream back as it was before validation."""
        if self._state_before_val is not None:
            set_rng_state(self._state_before_val)
            self._state_before_val = None


def get_rng_state() -> dict:
    """Return the states of the Python, numpy and torch generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore generator states returned by :func:`get_rng_state`."""
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state) -> tuple:
    """Undo the list conversion some serialisers apply to tuples."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
