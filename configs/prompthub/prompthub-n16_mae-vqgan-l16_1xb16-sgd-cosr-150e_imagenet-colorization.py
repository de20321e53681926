# PromptHub for colourisation on ImageNet (gray -> colour), N = 16 prompts,
# sigma 2.5; otherwise the Pascal-5i recipe. Lower MSE is better, so the best
# checkpoint is the lowest `vicl/mse`.
# Published number: none (the README ships Col_K_16.pth without an MSE).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/prompthub_mae-vqgan-l16.py',
    '../_base_/schedules/sgd_cosrestart_150e.py',
    '../_base_/datasets/imagenet_colorization.py',
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
    neck=dict(dropout=0.25, sigma=2.5))

default_hooks = dict(
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='vicl/mse',
        rule='less'))
