"""RNGStateHook saves, restores and isolates random streams."""
import random

import numpy as np
import torch

from projects.prompthub.engine import RNGStateHook


def _draw() -> tuple:
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_checkpoint_round_trip_restores_streams():
    hook = RNGStateHook()
    checkpoint = {}
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    hook.before_save_checkpoint(None, checkpoint)
    expected = _draw()
    _draw()  # move every stream on
    hook.after_load_checkpoint(None, checkpoint)
    assert _draw() == expected


def test_checkpoint_without_state_is_left_alone():
    hook = RNGStateHook()
    torch.manual_seed(2)
    expected = float(torch.rand(1))
    torch.manual_seed(2)
    hook.after_load_checkpoint(None, {})
    assert float(torch.rand(1)) == expected


def test_validation_does_not_change_the_training_stream():
    hook = RNGStateHook()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    reference = [_draw() for _ in range(2)]

    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    first = _draw()
    hook.before_val_epoch(None)
    _draw()  # validation consumes random numbers
    saved = {}
    hook.before_save_checkpoint(None, saved)  # e.g. save_best during val
    hook.after_val_epoch(None)
    assert [first, _draw()] == reference
    # The checkpoint written during validation holds the training stream.
    hook.after_load_checkpoint(None, saved)
    assert _draw() == reference[1]
