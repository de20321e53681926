"""Assembling the canvas and pasting a prediction into it."""
import pytest
import torch

from projects.prompthub.structures import (build_canvas, normalize_canvas,
                                           pair_canvas, paste_prediction,
                                           target_canvas)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def _const(value, batch=2, channels=3):
    return torch.full((batch, channels, 111, 111), value)


def test_build_canvas_pixel_layout():
    canvas = build_canvas(
        _const(.1), _const(.2), _const(.3), _const(.4), normalize=False)
    assert canvas.shape == (2, 3, 224, 224)
    assert (canvas[:, :, :111, :111] == .1).all()
    assert (canvas[:, :, :111, 113:] == .2).all()
    assert (canvas[:, :, 113:, :111] == .3).all()
    assert (canvas[:, :, 113:, 113:] == .4).all()
    # White gutters at rows/cols 111-112, nothing else.
    assert (canvas[:, :, 111:113, :] == 1).all()
    assert (canvas[:, :, :, 111:113] == 1).all()
    assert (canvas < 1).sum() == 2 * 3 * 4 * 111 * 111


def test_build_canvas_none_is_white_and_labels_broadcast():
    mask = torch.zeros(1, 1, 111, 111)
    mask[..., :5, :] = 1
    canvas = build_canvas(_const(.1, 1), mask, None, None, normalize=False)
    assert (canvas[:, :, 113:, :] == 1).all()  # BL and BR left white
    tr = canvas[0, :, :111, 113:]
    assert (tr[:, :5] == 1).all() and (tr[:, 5:] == 0).all()
    assert tr.shape == (3, 111, 111)


def test_build_canvas_normalises_by_default():
    canvas = build_canvas(_const(.1), None, None, None)
    white = (1 - MEAN) / STD
    torch.testing.assert_close(canvas[0, :, 200:, 200:],
                               white.expand(3, 24, 24))
    torch.testing.assert_close(canvas[0, :, :111, :111],
                               ((.1 - MEAN) / STD).expand(3, 111, 111))


def test_build_canvas_errors():
    with pytest.raises(ValueError, match='111, 111'):
        build_canvas(torch.zeros(1, 3, 112, 112), None, None, None)
    with pytest.raises(ValueError, match='at least one image'):
        build_canvas(None, None, None, None)
    with pytest.raises(ValueError, match='same batch size'):
        build_canvas(_const(.1, 1), _const(.1, 2), None, None)
    with pytest.raises(TypeError, match='floating point'):
        build_canvas(
            torch.zeros(1, 3, 111, 111, dtype=torch.uint8), None, None, None)


def test_pair_canvas_duplicates_the_pair():
    img, label = torch.rand(2, 3, 111, 111), torch.rand(2, 1, 111, 111)
    canvas = pair_canvas(img, label, normalize=False)
    torch.testing.assert_close(canvas[:, :, :111, :111], canvas[:, :,
                                                                113:, :111])
    torch.testing.assert_close(canvas[:, :, :111, 113:], canvas[:, :, 113:,
                                                                113:])
    torch.testing.assert_close(canvas[:, :, :111, :111], img)
    torch.testing.assert_close(canvas[:, :, 113:, 113:],
                               label.expand(-1, 3, -1, -1))


def test_target_canvas_rows():
    canvas = torch.rand(2, 3, 224, 224)
    target = target_canvas(canvas)
    for r in (0, 1, 55, 110, 111, 112, 150, 223):
        torch.testing.assert_close(target[..., r, :], canvas[...,
                                                             112 + r % 112, :])
    # The input is untouched.
    assert not torch.equal(target[..., 0, :], canvas[..., 0, :])


def test_paste_prediction():
    canvas = normalize_canvas(torch.ones(2, 3, 224, 224))
    decoded = torch.full((2, 3, 224, 224), .5)
    decoded[:, :, 200:, 200:] = 1.5  # clipped to 255
    decoded[:, :, 112, 112] = -.2  # clipped to 0
    out = paste_prediction(decoded, canvas)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 224, 224)
    # Outside the BR quadrant: the de-normalised input (white -> 254/255).
    assert out[0, :, 111, 111].tolist() == [254, 255, 255]
    assert out[0, :, 0, 223].tolist() == [254, 255, 255]
    assert out[0, :, 223, 111].tolist() == [254, 255, 255]
    # Inside (pixels 112..223): trunc(0.5 * 255) = 127.
    assert out[0, :, 113, 150].tolist() == [127, 127, 127]
    assert out[0, :, 112, 112].tolist() == [0, 0, 0]
    assert (out[:, :, 200:, 200:] == 255).all()
    # 112 x 88 pixels minus the clipped one at (112, 112).
    assert (out[:, :, 112:, 112:200] == 127).sum() == 2 * 3 * (112 * 88 - 1)


def test_paste_prediction_shape_error():
    with pytest.raises(ValueError, match='differ'):
        paste_prediction(
            torch.zeros(1, 3, 224, 224), torch.zeros(2, 3, 224, 224))
