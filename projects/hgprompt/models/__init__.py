from .classifier import HGPromptClassifier
from .losses import (HGGradAlignLoss, HGHScoreLoss, gar_cos, gar_var, h_score,
                     per_sample_head_grads)
from .prompt_bank import load_prompt, load_prompt_bank, save_prompt
from .prompted_vit import VPTPromptedViT, load_vit_checkpoint

__all__ = [
    'HGPromptClassifier', 'HGGradAlignLoss', 'HGHScoreLoss', 'gar_cos',
    'gar_var', 'h_score', 'per_sample_head_grads', 'load_prompt',
    'load_prompt_bank', 'save_prompt', 'VPTPromptedViT', 'load_vit_checkpoint'
]
