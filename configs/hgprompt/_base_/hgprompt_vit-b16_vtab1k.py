# HGPrompt on one VTAB-1k target with a frozen ViT-B/16: the variant the CPU
# demo validated (configs/hgprompt/hgprompt_vit-tiny-p8_vtab-synth-count6.py)
# at VTAB-1k scale. Stage A (10 epochs) starts from the H-score prior
# softmax(H_k / 0.05) and learns softmax ensemble weights over the source
# prompts (shrinkage H-score on a feature bank + gradient-variance
# alignment); stage B (100 epochs, VPT's length) tunes P(w*) and a fresh
# head with CE. AdamW at a constant lr as in the demo; lr and weight decay
# are chosen on val200 by run_vtab_protocol.py (`protocol` below).
# Sources: the bank of VPT-deep prompts that run_vtab_protocol.py collects
# from the vpt-deep_vit-b16_vtab1k-<task>.py runs, leave-one-out: the
# target's own prompt is left out by name (model.target_task) and
# HGSourceOverlapHook refuses a source trained in the target's folder.
# The leaf configs hgprompt_vit-b16_vtab1k-<task>.py set the target.
_base_ = [
    './hg_runtime.py', './models/vpt-deep_vit-b16.py', './datasets/vtab1k.py',
    './schedules/adamw_30e.py', './hgprompt_method.py'
]
source_prompts = 'work_dirs/vtab1k/vpt-deep/prompts'
model = dict(
    _base_.hgprompt_model,
    source_prompts='${source_prompts}',
    target_task='${task}',
    loss_h=dict(_base_.hgprompt_model.loss_h, bank_size=2048))
optim_wrapper = dict(
    optimizer=dict(lr=1e-2, weight_decay=0.0),
    paramwise_cfg=_base_.hgprompt_paramwise_cfg)
train_cfg = dict(max_epochs=110, val_interval=110)
custom_hooks = _base_.hgprompt_hooks + [dict(type='HGSourceOverlapHook')]
# Read by projects/hgprompt/tools/run_vtab_protocol.py (its options win):
# our grid around the demo's lr 1e-2 (no published one), VPT's seeds.
protocol = dict(
    lr_grid=[1e-2, 3e-3, 1e-3],
    wd_grid=[1e-3, 0.0],
    lr_batch_scale=None,
    seeds=[42, 44, 82, 100, 800])
