"""Shared pieces of the HGPrompt model tests: a ViT small enough for a
forward pass in milliseconds, and the classifier built on it."""
import torch

from projects.hgprompt.models import HGPromptClassifier

#: VPT-deep on a 2-layer 16-px ViT (d = 32) with prompts of length 2; the
#: source banks of the tests hold prompts of shape [2, 2, 32] to match.
TINY_BACKBONE = dict(
    type='VPTPromptedViT',
    arch='vit_tiny_patch16_224',
    vit_kwargs=dict(
        img_size=16, patch_size=8, embed_dim=32, depth=2, num_heads=2),
    prompt_length=2,
    deep=True)


def tiny_classifier(bank, **kwargs) -> HGPromptClassifier:
    """A 3-class :class:`HGPromptClassifier` on :data:`TINY_BACKBONE` over
    the source bank ``bank``, seeded; ``init='ensemble'`` unless given."""
    torch.manual_seed(0)
    kwargs.setdefault('init', 'ensemble')
    return HGPromptClassifier(
        backbone=TINY_BACKBONE, num_classes=3, source_prompts=bank, **kwargs)
