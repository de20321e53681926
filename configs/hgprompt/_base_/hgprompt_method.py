# HGPrompt's method settings, shared by the CPU demo
# (hgprompt_vit-tiny-p8_vtab-synth-count6.py), which validated them, and the
# ViT-B/16 recipe (hgprompt_vit-b16_vtab1k.py). Stage A (`stage_a_epochs`)
# starts from the per-source H-score prior softmax(H_k / 0.05) and learns
# softmax ensemble weights over the source prompts (shrinkage H-score on a
# feature bank + gradient-variance alignment); stage B tunes P(w*) and a
# fresh head with CE. The keys are not `model`/`custom_hooks` themselves
# (a config cannot take the same key from two bases): a config merges them
# with `model = dict(_base_.hgprompt_model, ...)`.
# A config that changes `stage_a_epochs` changes `train_cfg.max_epochs`
# (stage A + stage B) with it.
stage_a_epochs = 10
hgprompt_model = dict(
    init='ensemble',
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
# The weight logits learn at 5 x lr, without weight decay.
hgprompt_paramwise_cfg = dict(
    custom_keys=dict(weight_logits=dict(lr_mult=5.0, decay_mult=0.0)))
hgprompt_hooks = [
    dict(type='RNGStateHook'),
    dict(
        type='HGPromptStageHook',
        switch_epoch='${stage_a_epochs}',
        hscore_prior=0.05),
    dict(type='HGEnsembleWeightLoggerHook')
]
