"""VICLDataPreprocessor: one input tensor, the reference features beside."""
import pytest
import torch

from projects.prompthub.models.data_preprocessor import VICLDataPreprocessor


def _pairs(n=2, k=1, value=51):
    return [torch.full((k + 1, 2, 3, 4, 4), value, dtype=torch.uint8)] * n


def test_inputs_become_one_float_tensor():
    out = VICLDataPreprocessor()(dict(inputs=_pairs(), data_samples=None))
    assert set(out) == {'inputs', 'data_samples'}
    assert out['inputs'].dtype == torch.float32
    assert out['inputs'].shape == (2, 2, 2, 3, 4, 4)
    assert torch.equal(out['inputs'], torch.full_like(out['inputs'], 51) / 255)


def test_feature_pairs_travel_as_their_own_key():
    feats = [torch.rand(2, 2, 3, 4, 4) for _ in range(2)]
    out = VICLDataPreprocessor()(
        dict(inputs=_pairs(), data_samples=None, feature_pairs=feats))
    assert set(out) == {'inputs', 'data_samples', 'feature_pairs'}
    assert torch.equal(out['feature_pairs'], torch.stack(feats))
    assert out['inputs'].shape == out['feature_pairs'].shape
    with pytest.raises(ValueError, match='same shape'):
        VICLDataPreprocessor()(dict(inputs=_pairs(k=2), feature_pairs=feats))


def test_dict_inputs_are_refused_with_the_fix():
    with pytest.raises(TypeError, match="'feature_pairs' next to 'inputs'"):
        VICLDataPreprocessor()(dict(inputs=dict(pairs=_pairs())))
