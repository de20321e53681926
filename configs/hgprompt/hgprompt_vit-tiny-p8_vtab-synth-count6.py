# HGPrompt on the held-out target: stage A (10 epochs) learns softmax
# ensemble weights over the K source prompts (shrinkage H-score on a
# feature bank + Fishr-style gradient-variance alignment), starting from
# the per-source H-score prior softmax(H_k / 0.05); stage B (25 epochs,
# the baselines' budget) tunes P(w*) and a fresh head with CE.
_base_ = ['./vpt-deep_vit-tiny-p8_vtab-synth-count6.py']
stage_a_epochs = 10
model = dict(
    init='ensemble',
    source_prompts={{_base_.source_prompts}},
    target_task='count6',
    weight_param='softmax',
    per_layer_weights=False,
    loss_h=dict(
        type='HGHScoreLoss',
        estimator='shrinkage',
        alpha=0.5,
        standardize=True,
        bank_size=512,
        loss_weight=1.0),
    loss_gar=dict(
        type='HGGradAlignLoss', gar_type='var', ema=0.95, loss_weight=1.0),
    stage_a_ce_weight=1.0)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(weight_logits=dict(lr_mult=5.0, decay_mult=0.0))))
train_cfg = dict(max_epochs=35, val_interval=35)
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(
        type='HGPromptStageHook',
        switch_epoch=stage_a_epochs,
        hscore_prior=0.05),
    dict(type='HGEnsembleWeightLoggerHook')
]
