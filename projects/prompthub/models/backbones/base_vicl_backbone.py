"""The frozen-backbone API the VICL models and tools are written against."""
from abc import ABCMeta, abstractmethod
from typing import Optional

from mmengine.model import BaseModule
from torch import Tensor, nn


class BaseVICLBackbone(BaseModule, metaclass=ABCMeta):
    """A backbone that inpaints the BR cell of a 2x2 canvas from tokens.

    :class:`VICLInpainter` and :class:`PromptHub` only use this interface,
    so any subclass (the MAE-VQGAN, the tiny pixel backbone) can serve
    them. The flow is ``embed`` (canvas -> tokens; a fusion neck may
    rewrite the tokens), ``forward_tokens`` (tokens -> logits with the BR
    block masked), then ``logits_to_image`` to show a prediction, or
    ``prediction_targets`` to train on one.

    Subclasses set these attributes in ``__init__``:

    - ``img_size`` (int): canvas side H = W the methods take.
    - ``grid_size`` (int): tokens per side; T = ``grid_size ** 2``.
    - ``embed_dim`` (int): token width D of ``embed`` and
      ``forward_tokens``, the width a fusion neck must use.
    - ``num_codes`` (int): V, the last dim of the logits.
    - ``frozen`` (bool): weights without gradient and eval mode kept under
      ``train()`` (see :meth:`train`); gradients still reach the tokens.

    ``tokens_carry_pixels`` (class attribute) is True when the tokens hold
    their patch's pixels, so :meth:`tokens_to_image` can show a token
    canvas as the backbone reads it (the visualisation's fused prompt);
    otherwise it is shown through ``logits_to_image(forward_tokens(...))``.
    """

    #: Whether :meth:`tokens_to_image` is available (see the class doc).
    tokens_carry_pixels: bool = False
    #: See the class doc; subclasses set it from their ``frozen`` argument.
    frozen: bool = False

    @abstractmethod
    def embed(self, canvas: Tensor, half: Optional[str] = None) -> Tensor:
        """Normalised canvas [B, 3, H, W] -> tokens [B, T, D].

        Args:
            canvas (Tensor): ImageNet-normalised canvas.
            half (str, optional): ``'top'`` or ``'bottom'`` returns only
                that half's T/2 tokens (PromptHub embeds no more than it
                uses). Defaults to None (all T tokens).
        """

    @abstractmethod
    def forward_tokens(self, tokens: Tensor) -> Tensor:
        """Tokens [B, T, D] -> logits [B, T, V]; the BR tokens are masked
        (never read), so the query label cannot leak into the output."""

    @abstractmethod
    def prediction_targets(self, canvas: Tensor) -> Tensor:
        """What the logits of a normalised canvas are trained towards
        (VQGAN codes [B, T] for the MAE-VQGAN, pixels for a pixel head)."""

    @abstractmethod
    def logits_to_image(self, logits: Tensor) -> Tensor:
        """Logits [B, T, V] -> the predicted canvas, float [B, 3, H, W] in
        [0, 1]; the models paste its BR quadrant into the input canvas."""

    def tokens_to_image(self, tokens: Tensor) -> Tensor:
        """Tokens [B, T, D] -> the canvas they show, float [B, 3, H, W] in
        [0, 1]; only when ``tokens_carry_pixels``.

        Raises:
            NotImplementedError: The tokens hold no pixels.
        """
        raise NotImplementedError(
            f'{type(self).__name__} tokens do not carry pixels '
            '(tokens_carry_pixels is False); show tokens through '
            'logits_to_image(forward_tokens(tokens)) instead.')

    def target_network(self) -> nn.Module:
        """The part of the network :meth:`prediction_targets` depends on.

        A target cache fingerprints these weights; the default is the
        whole backbone.
        """
        return self

    def freeze(self) -> None:
        """No gradient for the weights, eval mode from now on (with
        ``frozen`` set, :meth:`train` keeps it)."""
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'BaseVICLBackbone':
        """Set the mode; a frozen backbone always stays in eval mode."""
        return super().train(mode and not self.frozen)
