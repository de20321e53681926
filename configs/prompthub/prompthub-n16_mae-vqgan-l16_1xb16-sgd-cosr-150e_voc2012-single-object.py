# PromptHub for single-object detection on Pascal VOC 2012 (box masks),
# N = 16 prompts, sigma 0.5; otherwise the Pascal-5i recipe. The metric fills
# the bounding box of the largest predicted component (docs/method.md, section
# 9.3). Reproduces: 45.59 mIoU (README, Det_K_16).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/prompthub_mae-vqgan-l16.py',
    '../_base_/schedules/sgd_cosrestart_150e.py',
    '../_base_/datasets/voc_single_object.py',
]
custom_imports = dict(
    imports=['projects.prompthub', 'projects.prompthub.datasets.holdout'],
    allow_failed_imports=False)
model_selection = 'holdout'

backbone_checkpoint = 'checkpoints/mae_vqgan_mmengine.pth'
model = dict(
    data_preprocessor=dict(num_prompts=16),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=backbone_checkpoint,
            prefix='backbone.')),
    neck=dict(dropout=0.25, sigma=0.5))

default_hooks = dict(
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='vicl/mIoU',
        rule='greater'))
