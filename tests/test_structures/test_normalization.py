"""ImageNet normalisation both ways and the reference's uint8 read-back."""
import pytest
import torch

from projects.prompthub.structures import (IMAGENET_MEAN, IMAGENET_STD,
                                           build_canvas, denormalize,
                                           denormalize_to_uint8,
                                           normalize_canvas, query_label_cell,
                                           reference_round_trip, to_unit_float)


def test_normalize_and_denormalize_truncate_like_reference():
    canvas = torch.ones(1, 3, 224, 224)
    canvas[..., :10, :10] = 0.
    canvas[..., 10:20, :10] = .5
    norm = normalize_canvas(canvas)
    out = denormalize_to_uint8(norm)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 224, 224)
    # float32 normalisation, float64 undo and truncation: white becomes
    # (254, 255, 255), 0.5 becomes 127 (127.4999...), 0 stays 0.
    assert out[0, :, 100, 100].tolist() == [254, 255, 255]
    assert out[0, :, 15, 5].tolist() == [127, 127, 127]
    assert out[0, :, 5, 5].tolist() == [0, 0, 0]


def test_denormalize_along_any_channel_dim():
    x = torch.randn(2, 3, 4, 5)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.equal(denormalize(x), x * std + mean)
    last = x.permute(0, 2, 3, 1)
    assert torch.equal(
        denormalize(last, channel_dim=-1),
        last * torch.tensor(IMAGENET_STD) + torch.tensor(IMAGENET_MEAN))
    canvas = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(denormalize(normalize_canvas(canvas)), canvas)
    with pytest.raises(ValueError, match='3 channels'):
        denormalize(torch.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match='negative dim'):
        denormalize(x, channel_dim=1)


def test_to_unit_float():
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8)
    out = to_unit_float(pixels)
    assert out.dtype == torch.float32
    assert out.tolist() == pytest.approx([0., .2, 1.])
    with pytest.raises(TypeError, match='uint8'):
        to_unit_float(out)


def test_reference_round_trip_is_the_canvas_read_back():
    """The packed ground truth equals, bit for bit, the BR cell read back
    out of the de-normalised canvas the label is drawn into."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(
        0, 256, (4, 3, 111, 111), generator=gen, dtype=torch.uint8)
    labels[0] = 255  # white may come back as 254 (truncation)
    labels[1] = (labels[1] > 127).to(torch.uint8) * 255  # a 0/255 mask
    images = torch.randint(
        0, 256, (4, 3, 111, 111), generator=gen, dtype=torch.uint8)
    canvas = build_canvas(
        to_unit_float(images), to_unit_float(labels), to_unit_float(images),
        to_unit_float(labels))
    read_back = query_label_cell(denormalize_to_uint8(canvas))
    for label, expected in zip(labels, read_back):
        got = reference_round_trip(label)
        assert got.dtype == torch.uint8 and got.shape == (3, 111, 111)
        assert torch.equal(got, expected)
    assert reference_round_trip(labels[0])[:, 0, 0].tolist() == [254, 255, 255]
    # The round trip moves some values by one level (truncation).
    assert not torch.equal(reference_round_trip(labels[2]), labels[2])
    with pytest.raises(ValueError, match=r'\[3, S, S\]'):
        reference_round_trip(labels)
