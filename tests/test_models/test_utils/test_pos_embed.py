import math

import numpy as np
import pytest

from projects.prompthub.models.utils import (get_2d_sincos_pos_embed,
                                             sincos_pos_embed_tensor)


def test_2d_sincos_values_by_hand():
    # D = 8 -> 4 channels per axis, omega = (1, 10000 ** -0.5 = 0.01).
    table = get_2d_sincos_pos_embed(8, 2, cls_token=True)
    assert table.shape == (5, 8)
    np.testing.assert_array_equal(table[0], np.zeros(8))

    def row(r, c):
        # First half encodes the column, second half the row.
        return [
            math.sin(c),
            math.sin(c * .01),
            math.cos(c),
            math.cos(c * .01),
            math.sin(r),
            math.sin(r * .01),
            math.cos(r),
            math.cos(r * .01)
        ]

    for t, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        np.testing.assert_allclose(table[t + 1], row(r, c), rtol=0, atol=1e-15)


def test_tensor_shape_and_dtype():
    t = sincos_pos_embed_tensor(1024, 14)
    assert t.shape == (1, 197, 1024)
    assert str(t.dtype) == 'torch.float32'
    # Token (row 0, col 0): sin 0 = 0 and cos 0 = 1 in each half.
    assert t[0, 1, :256].abs().max() == 0
    assert (t[0, 1, 256:512] == 1).all()


def test_bad_dim():
    with pytest.raises(ValueError, match='divisible by 4'):
        get_2d_sincos_pos_embed(6, 2)
