# HGPrompt on the held-out target: the method of _base_/hgprompt_method.py
# (stage A 10 epochs, H-score prior, shrinkage H-score, Fishr-style
# gradient-variance alignment) over the K source prompts; stage B (25
# epochs, the baselines' budget) tunes P(w*) and a fresh head with CE.
_base_ = [
    './vpt-deep_vit-tiny-p8_vtab-synth-count6.py',
    './_base_/hgprompt_method.py'
]
model = dict(
    _base_.hgprompt_model,
    source_prompts='${source_prompts}',
    target_task='count6')
optim_wrapper = dict(paramwise_cfg=_base_.hgprompt_paramwise_cfg)
train_cfg = dict(max_epochs=35, val_interval=35)
custom_hooks = _base_.hgprompt_hooks
