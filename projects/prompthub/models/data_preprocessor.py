"""Batch VICL pairs for the model."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from projects.prompthub.registry import MODELS
from projects.prompthub.structures import to_unit_float
from projects.prompthub.utils.validation import check_count


@MODELS.register_module()
class VICLDataPreprocessor(BaseDataPreprocessor):
    """Stack the uint8 pair tensors of a batch and scale them to [0, 1].

    Each sample's ``inputs`` is a uint8 tensor ``[K+1, 2, 3, S, S]`` (the
    query pair first, then K prompt pairs; see ``docs/design.md``). The
    canvas normalisation belongs to the backbone, so this preprocessor only
    moves data to the device and converts it to float.

    Args:
        num_prompts (int, optional): When given, every sample must carry
            exactly this many (>= 1) prompt pairs; a mismatch raises
            instead of silently training with another K. Defaults to None.
        non_blocking (bool): Asynchronous host-to-device copies.
            Defaults to False.
    """

    def __init__(self,
                 num_prompts: Optional[int] = None,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.num_prompts = None if num_prompts is None else check_count(
            num_prompts, 'num_prompts', self.__class__.__name__)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Stack ``inputs`` to float ``[B, K+1, 2, 3, S, S]`` in [0, 1].

        Args:
            data (dict): ``inputs`` (list of uint8 tensors or a stacked
                tensor), ``data_samples`` and, when the pipeline loads the
                reference fusion inputs, their float ``feature_pairs`` of
                the same layout.
            training (bool): Unused; kept for the interface.

        Returns:
            dict: ``inputs`` as one float tensor, ``data_samples`` and,
            when given, ``feature_pairs`` as one float tensor: the keyword
            arguments of the model's ``forward``.
        """
        data = self.cast_data(data)
        if isinstance(data['inputs'], dict):
            raise TypeError(
                'VICL inputs are the uint8 pair tensors, not a dict; the '
                'reference feature pairs travel as the batch key '
                "'feature_pairs' next to 'inputs' (PackVICLInputs packs "
                'them so).')
        inputs = to_unit_float(self._stack(data['inputs']))
        out = dict(inputs=inputs, data_samples=data.get('data_samples'))
        if data.get('feature_pairs') is not None:
            features = self._stack(data['feature_pairs']).float()
            if features.shape != inputs.shape:
                raise ValueError(
                    f'feature_pairs {tuple(features.shape)} and inputs '
                    f'{tuple(inputs.shape)} must have the same shape.')
            out['feature_pairs'] = features
        return out

    def _stack(self, inputs) -> torch.Tensor:
        """Stack per-sample pair tensors and check the layout."""
        if isinstance(inputs, Sequence):
            shapes = {tuple(x.shape) for x in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    'All samples of a batch need the same pair tensor shape '
                    f'[K+1, 2, 3, S, S]; got {sorted(shapes)}. Resize the '
                    'pairs to one cell size and use the same num_prompts.')
            inputs = torch.stack(list(inputs))
        if inputs.ndim != 6 or inputs.shape[2:4] != (2, 3):
            raise ValueError(
                'VICL inputs must have shape [B, K+1, 2, 3, S, S], got '
                f'{tuple(inputs.shape)}.')
        num_prompts = inputs.shape[1] - 1
        if self.num_prompts is not None and num_prompts != self.num_prompts:
            raise ValueError(
                f'Expected {self.num_prompts} prompt pairs per query, got '
                f'{num_prompts}; set the dataset\'s num_prompts to match '
                'the model.')
        return inputs
