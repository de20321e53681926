# Ablation: HGPrompt with stage A started from uniform weights (no H-score
# prior): plain gradient ascent on the composite prompt's H-score.
_base_ = ['./hgprompt_vit-tiny-p8_vtab-synth-count6.py']
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='HGPromptStageHook', switch_epoch={{_base_.stage_a_epochs}}),
    dict(type='HGEnsembleWeightLoggerHook')
]
