"""Cell sizes, cell crops and token ids of the 2x2 canvas."""
import numpy as np
import pytest
import torch

from projects.prompthub.structures import (br_token_ids, build_canvas,
                                           cell_size, cell_slices, crop_cell,
                                           half_rows, query_label_cell,
                                           visible_mask_ids)


def test_cell_size():
    assert cell_size(224) == 111
    assert cell_size() == 111
    assert cell_size(224, padding=2) == 110


def test_cell_slices_are_the_canvas_cells():
    canvas = build_canvas(
        *[torch.full((1, 3, 111, 111), v) for v in (.1, .2, .3, .4)],
        normalize=False)
    for position, value in zip(('tl', 'tr', 'bl', 'br'), (.1, .2, .3, .4)):
        rows, cols = cell_slices(position)
        assert (canvas[..., rows, cols] == value).all()
        assert canvas[..., rows, cols].shape == (1, 3, 111, 111)
    assert cell_slices('br') == (slice(113, 224), slice(113, 224))
    assert cell_slices('tr') == (slice(0, 111), slice(113, 224))
    with pytest.raises(ValueError, match="'tl', 'tr', 'bl', 'br'"):
        cell_slices('mid')


def test_query_label_cell():
    canvas = torch.zeros(2, 3, 224, 224, dtype=torch.uint8)
    canvas[..., 113, 113] = 7
    canvas[..., 112, :] = 9  # gutter, must be cut away
    cell = query_label_cell(canvas)
    assert cell.shape == (2, 3, 111, 111)
    assert (cell[..., 0, 0] == 7).all() and (cell != 9).all()
    assert int(cell.sum()) == 7 * 6
    # A view, of tensors and arrays alike, of any leading shape.
    assert cell.data_ptr() == canvas[..., 113:, 113:].data_ptr()
    array = query_label_cell(canvas.numpy())
    assert isinstance(array, np.ndarray)
    np.testing.assert_array_equal(array, cell.numpy())
    assert query_label_cell(torch.zeros(224, 224)).shape == (111, 111)
    br = torch.rand(2, 3, 111, 111)
    torch.testing.assert_close(
        query_label_cell(build_canvas(None, None, None, br, normalize=False)),
        br)


def test_crop_cell_refuses_non_square():
    with pytest.raises(ValueError, match='square'):
        crop_cell(torch.zeros(3, 224, 200), 'tl')
    assert crop_cell(torch.arange(224.).expand(224, 224), 'tr')[0, 0] == 113


def test_half_rows():
    assert half_rows('top', 196) == slice(0, 98)
    assert half_rows('bottom', 224) == slice(112, 224)
    with pytest.raises(ValueError, match='top'):
        half_rows('left', 10)


def test_token_ids():
    vis, br = visible_mask_ids(), br_token_ids()
    assert vis.dtype == torch.int64 and br.dtype == torch.int64
    assert len(vis) == 147 and len(br) == 49
    # The reference: mask[:7] = 1; mask[:, :7] = 1 -> kept ids.
    keep = np.zeros((14, 14))
    keep[:7] = 1
    keep[:, :7] = 1
    assert vis.tolist() == list(np.flatnonzero(keep))
    assert br[:7].tolist() == list(range(105, 112))
    assert br[-1].item() == 195
    assert sorted(vis.tolist() + br.tolist()) == list(range(196))
