# PromptHub on Pascal-5i, fold 0, N = 16 prompts: the default recipe
# (configs/prompthub_seg.py, the README's entry point, is this config).
# Frozen MAE-VQGAN (ViT-L/16 + VQGAN f16-1024), locality fusion neck with
# sigma 0.65, SGD lr 0.03 (momentum 0) with per-epoch cosine restarts
# (period 10), AMP, batch 16, 150 epochs (docs/method.md, section 7.5).
# Reproduces: 45.93 mIoU (README, Seg_K_16_Fold_0) with the released
# weights, see docs/reproduction.md.
# On a CPU-only machine add
#   --cfg-options optim_wrapper.type=OptimWrapper
# (AmpOptimWrapper needs CUDA).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/prompthub_mae-vqgan-l16.py',
    '../_base_/schedules/sgd_cosrestart_150e.py',
    '../_base_/datasets/pascal5i.py',
]
# HoldoutSubset is registered by projects.prompthub.datasets.holdout.
custom_imports = dict(
    imports=['projects.prompthub', 'projects.prompthub.datasets.holdout'],
    allow_failed_imports=False)

# 'holdout' (default): the best epoch is picked on a held-out 10% of the
# trn list (`val_dataloader`) and the official val fold is only tested.
# 'reference': validate on the test split like the reference, see
# prompthub-n16-refselect_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py.
model_selection = 'holdout'

# Frozen backbone weights for training, converted once with
# tools/model_converters/mae_vqgan2mmengine.py. Not read by tools/test.py,
# whose checkpoint holds the backbone too.
backbone_checkpoint = 'checkpoints/mae_vqgan_mmengine.pth'
model = dict(
    data_preprocessor=dict(num_prompts=16),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.')),
    neck=dict(dropout=0.25, sigma=0.65))

default_hooks = dict(
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='vicl/mIoU',
        rule='greater'))
