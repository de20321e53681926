"""Functions that take a ``torch.Tensor`` or an ``np.ndarray`` and return
the same kind use these two converters."""
from typing import Tuple, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray]


def as_tensor(x: ArrayLike) -> Tuple[torch.Tensor, bool]:
    """Return ``x`` as a tensor and whether it was a numpy array."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x)), True
    if isinstance(x, torch.Tensor):
        return x, False
    raise TypeError(f'expected a torch.Tensor or np.ndarray, got {type(x)}')


def restore_kind(x: torch.Tensor, was_numpy: bool) -> ArrayLike:
    """Give ``x`` back as the kind :func:`as_tensor` was handed."""
    return x.cpu().numpy() if was_numpy else x
