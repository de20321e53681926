# PromptHub trained on COCO-20i fold 0 (the COCO-2014 train images of the
# fold's 5 Pascal classes) and tested on Pascal-5i val fold 0 with prompts
# retrieved from those COCO images; N = 16, sigma 0.65, recipe as
# the Pascal-5i configs. The held-out validation part is carved from the COCO
# training list. Reproduces: 42.69 mIoU (README, Coco_K_16_Fold_0).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/prompthub_mae-vqgan-l16.py',
    '../_base_/schedules/sgd_cosrestart_150e.py',
    '../_base_/datasets/coco20i_to_pascal5i.py',
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
    neck=dict(dropout=0.25, sigma=0.65))

default_hooks = dict(
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='vicl/mIoU',
        rule='greater'))
