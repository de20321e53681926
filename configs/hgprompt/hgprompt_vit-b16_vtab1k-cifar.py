# HGPrompt with ViT-B/16 (ImageNet-21k, local checkpoint) on a real
# VTAB-1k task in the NOAH layout (data/vtab-1k/<task>); the source bank
# holds VPT-deep prompts (L=10) trained on other tasks with the same
# backbone. Stage A 10 epochs, stage B 100 epochs (VPT protocol length).
_base_ = [
    './_base_/hg_runtime.py', './_base_/models/vpt-deep_vit-b16.py',
    './_base_/datasets/vtab1k.py', './_base_/schedules/adamw_30e.py'
]
model = dict(
    num_classes=100,
    init='ensemble',
    source_prompts='work_dirs/hgprompt_vtab1k/prompts',
    loss_h=dict(type='HGHScoreLoss', bank_size=2048),
    loss_gar=dict(type='HGGradAlignLoss', gar_type='var'))
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(
        custom_keys=dict(weight_logits=dict(lr_mult=10.0, decay_mult=0.0))))
train_cfg = dict(max_epochs=110, val_interval=110)
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='HGPromptStageHook', switch_epoch=10),
    dict(type='HGEnsembleWeightLoggerHook')
]
