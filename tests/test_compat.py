"""The plugin's allow-list lets safe torch.load read MMEngine checkpoints."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import projects.prompthub  # noqa: F401  (registers the allow-list)


class NotAllowed:
    """An arbitrary class a malicious checkpoint could smuggle in."""

    def __init__(self):
        self.value = 1


def test_message_hub_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_compat')
    for v in (1.5, 2.5, 3.5):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', np.int64(7))
    state = dict(
        message_hub=hub.state_dict(),
        meta=dict(seed=np.int64(3), value=np.float32(0.25)),
        arrays=[np.arange(4, dtype=np.uint32),
                np.ones((2, 2), np.float64)],
        state_dict={'w': torch.ones(2)})
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)

    loaded = torch.load(path)  # weights_only=True is torch's default
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(2.5)
    assert loaded['meta']['seed'] == 3
    assert loaded['meta']['value'].dtype == np.float32
    np.testing.assert_array_equal(loaded['arrays'][0], np.arange(4))
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))


def test_arbitrary_classes_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'payload': NotAllowed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='NotAllowed'):
        torch.load(path)


def test_getattr_is_restricted_to_history_buffer_methods():
    from projects.prompthub.compat import history_buffer_getattr
    assert history_buffer_getattr(HistoryBuffer, 'mean') is \
        HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='Refusing getattr'):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='Refusing getattr'):
        history_buffer_getattr(np.ndarray, 'mean')
