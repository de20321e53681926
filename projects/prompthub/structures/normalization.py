"""ImageNet normalisation of the canvas, both ways, as the reference does.

The canvas is normalised in its own dtype (float32 in the reference); the
uint8 read-back de-normalises in float64 and truncates, so a white 1.0
may come back as 254.
"""
from typing import Sequence

import torch

from .canvas_geometry import check_canvas

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _stats(x: torch.Tensor, values: Sequence[float],
           channel_dim: int) -> torch.Tensor:
    """``values`` in ``x``'s dtype/device, shaped to broadcast along
    ``channel_dim`` (a negative dim of ``x``)."""
    shape = (len(values), ) + (1, ) * (-channel_dim - 1)
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(shape)


def to_unit_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1] (``x / 255``).

    The one scaling of the pipeline (the data preprocessor's and the
    packed ground truth's), so both see the very same floats.
    """
    if pixels.dtype != torch.uint8:
        raise TypeError(f'to_unit_float expects uint8 pixels, got '
                        f'{pixels.dtype}')
    return pixels.float() / 255.0


def normalize_canvas(canvas: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalise a [0, 1] canvas in its own dtype.

    Args:
        canvas (Tensor): [B, 3, H, W] floats in [0, 1].

    Returns:
        Tensor: ``(canvas - mean) / std``, same dtype (float32 in the
        reference).
    """
    check_canvas(canvas)
    if not canvas.is_floating_point():
        raise TypeError(f'canvas must be floating point in [0, 1], got '
                        f'{canvas.dtype}; convert uint8 with /255 first')
    return (canvas - _stats(canvas, IMAGENET_MEAN, -3)) / _stats(
        canvas, IMAGENET_STD, -3)


def denormalize(x: torch.Tensor, channel_dim: int = -3) -> torch.Tensor:
    """Undo the normalisation in ``x``'s dtype: ``x * std + mean``.

    Args:
        x (Tensor): Normalised values with the 3 colour channels at
            ``channel_dim``.
        channel_dim (int): Negative index of the channel dim, e.g. -3 for
            [..., 3, H, W] images, -1 for [..., 3] colours. Defaults to -3.

    Returns:
        Tensor: Same shape and dtype, not clipped.
    """
    if channel_dim >= 0 or x.shape[channel_dim] != len(IMAGENET_MEAN):
        raise ValueError(f'expected 3 channels at negative dim '
                         f'{channel_dim}, got shape {tuple(x.shape)}')
    return x * _stats(x, IMAGENET_STD, channel_dim) + _stats(
        x, IMAGENET_MEAN, channel_dim)


def denormalize_to_uint8(canvas_norm: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation to uint8 exactly as the reference does.

    ``clip((x * std + mean) * 255, 0, 255)`` in float64, then truncation.

    Args:
        canvas_norm (Tensor): [B, 3, H, W] normalised canvas.

    Returns:
        Tensor: uint8 [B, 3, H, W].
    """
    check_canvas(canvas_norm, 'canvas_norm')
    x = denormalize(canvas_norm.detach().to(torch.float64)) * 255
    # Clip, then truncate toward zero (the reference's ``.int()``).
    return x.clamp(0, 255).to(torch.int32).to(torch.uint8)


def reference_round_trip(img: torch.Tensor) -> torch.Tensor:
    """The uint8 pixels the reference reads back out of its canvas.

    ``img / 255`` in float32, normalised, then :func:`denormalize_to_uint8`:
    what the canvas holds of a cell once it has been drawn there. The
    reference scores the query label after this round trip (white 255 may
    become 254), so the packed ground truth goes through it too.

    Args:
        img (Tensor): uint8 [3, S, S] image.

    Returns:
        Tensor: uint8 [3, S, S].
    """
    if img.dim() != 3:
        raise ValueError(f'expected one [3, S, S] image, got '
                         f'{tuple(img.shape)}')
    return denormalize_to_uint8(normalize_canvas(to_unit_float(img)[None]))[0]
