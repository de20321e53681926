"""The reference's white/black decision and the intended one."""
import numpy as np
import pytest
import torch

from projects.prompthub.structures import binarize

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def reference_round_white(img_hwc: np.ndarray) -> np.ndarray:
    """Literal numpy emulation of the reference ``round_image`` on uint8.

    The reference (``models/train_models.py``) keeps the image and the
    options ``[WHITE, BLACK]`` in uint8, so ``img - opt`` and ``** 2`` wrap
    modulo 256; it then takes ``.float().mean(dim=2)`` over channels and
    ``argmin`` over the options (first wins ties). Returns True where the
    result is WHITE.
    """
    assert img_hwc.dtype == np.uint8
    opts = np.array([WHITE, BLACK], dtype=np.uint8).T  # (3, 2)
    diff = img_hwc[..., None] - opts[None, None]  # uint8, wraps
    assert diff.dtype == np.uint8
    sq = diff**2  # uint8, wraps
    assert sq.dtype == np.uint8
    dist = sq.astype(np.float32).mean(axis=2)  # (H, W, 2)
    return np.argmin(dist, axis=-1) == 0


def gray_levels() -> np.ndarray:
    """All 256 gray levels as a (3, 1, 256) uint8 image."""
    g = np.arange(256, dtype=np.uint8)
    return np.broadcast_to(g, (3, 1, 256)).copy()


def closed_form_white(rgb) -> bool:
    """The closed form of docs/method.md, section 11, in plain Python
    integers."""
    d_w = sum(((x + 1) % 256)**2 % 256 for x in rgb)
    d_b = sum(x * x % 256 for x in rgb)
    return d_w <= d_b


class TestBinarizeReference:

    def test_closed_form_all_gray_levels(self):
        white = binarize(gray_levels(), 'reference')[0]
        expected = [closed_form_white((v, v, v)) for v in range(256)]
        np.testing.assert_array_equal(white, expected)

    def test_spec_values(self):
        white = binarize(gray_levels(), 'reference')[0]
        assert white.sum() == 128
        for v in [*range(241, 256), 15, 22, 27, 31, *range(113, 128)]:
            assert white[v], v
        for v in [*range(0, 15), *range(16, 22), 112, *range(128, 143), 240]:
            assert not white[v], v

    def test_equals_literal_reference_gray(self):
        img = gray_levels()
        ref = reference_round_white(img.transpose(1, 2, 0))
        np.testing.assert_array_equal(binarize(img, 'reference'), ref)

    def test_equals_literal_reference_colours(self):
        rng = np.random.default_rng(0)
        img = rng.integers(0, 256, size=(3, 64, 64), dtype=np.uint8)
        # Near-white / near-black colours, where the scrambling bites.
        img[:, :8] = rng.integers(230, 256, size=(3, 8, 64), dtype=np.uint8)
        img[:, 8:16] = rng.integers(0, 26, size=(3, 8, 64), dtype=np.uint8)
        ref = reference_round_white(img.transpose(1, 2, 0))
        ours = binarize(img, 'reference')
        np.testing.assert_array_equal(ours, ref)
        # Not a trivial map: both classes occur.
        assert 0 < ours.sum() < ours.size

    def test_channel_sum_does_not_wrap(self):
        # The reference sums the wrapped squares in float. Gray 20:
        # d_W = 3 * (21**2 % 256) = 555, d_B = 3 * (20**2 % 256) = 432,
        # black; a uint8 channel sum (43 vs 176) would say white.
        # (1, 2, 3): d_W = 4 + 9 + 16 = 29 > d_B = 1 + 4 + 9 = 14, black.
        # (0, 15, 15): d_W = 1 + 0 + 0 = 1 <= d_B = 450, white.
        img = np.array([[20, 20, 20], [1, 2, 3], [0, 15, 15]],
                       dtype=np.uint8).T[:, None, :]
        np.testing.assert_array_equal(
            binarize(img, 'reference')[0], [False, False, True])


class TestBinarizeThreshold:

    def test_gray_levels(self):
        white = binarize(gray_levels(), 'threshold')[0]
        np.testing.assert_array_equal(white, np.arange(256) >= 128)

    def test_colour_boundary(self):
        # White iff the channel sum is >= 383 (mean above 127.5).
        img = np.array([[255, 128, 0], [255, 127, 0], [200, 100, 83]],
                       dtype=np.uint8).T[:, None, :]
        np.testing.assert_array_equal(
            binarize(img, 'threshold')[0], [True, False, True])

    def test_equals_int32_nearest_colour(self):
        rng = np.random.default_rng(1)
        img = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
        x = img.astype(np.int32)
        d_w = ((x - 255)**2).sum(0)
        d_b = (x**2).sum(0)
        np.testing.assert_array_equal(binarize(img, 'threshold'), d_w <= d_b)


class TestBinarizeApi:

    def test_types_and_batch_shape(self):
        rng = np.random.default_rng(2)
        img = rng.integers(0, 256, size=(2, 4, 3, 5, 6), dtype=np.uint8)
        out_np = binarize(img)
        assert isinstance(out_np, np.ndarray) and out_np.dtype == bool
        assert out_np.shape == (2, 4, 5, 6)
        out_t = binarize(torch.from_numpy(img))
        assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.bool
        np.testing.assert_array_equal(out_t.numpy(), out_np)
        # Batched equals per-image.
        np.testing.assert_array_equal(out_np[1, 2], binarize(img[1, 2]))

    def test_errors(self):
        with pytest.raises(TypeError):
            binarize(np.zeros((3, 2, 2), dtype=np.int32))
        with pytest.raises(ValueError):
            binarize(np.zeros((4, 2, 2), dtype=np.uint8))
        with pytest.raises(ValueError):
            binarize(np.zeros((3, 2, 2), dtype=np.uint8), mode='round')
