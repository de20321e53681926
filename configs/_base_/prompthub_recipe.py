# The PromptHub training recipe that every task's N = 16 config shares:
# frozen MAE-VQGAN (ViT-L/16 + VQGAN f16-1024) with its converted weights,
# the locality fusion neck, SGD with per-epoch cosine restarts for 150
# epochs (docs/method.md, section 7.5), and one kept checkpoint: the best
# on the validation metric. A task config adds its dataset base (which
# defines `num_prompts`) and the neck's sigma.
_base_ = [
    './default_runtime.py',
    './models/prompthub_mae-vqgan-l16.py',
    './schedules/sgd_cosrestart_150e.py',
]
# Frozen backbone weights for training, converted once with
# tools/model_converters/mae_vqgan2mmengine.py. Not read by tools/test.py,
# whose checkpoint holds the backbone too.
backbone_checkpoint = 'checkpoints/mae_vqgan_mmengine.pth'
model = dict(
    data_preprocessor=dict(num_prompts='${num_prompts}'),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='${backbone_checkpoint}',
            prefix='backbone.')))

default_hooks = dict(
    checkpoint=dict(
        type='SafeCheckpointHook',
        by_epoch=True,
        interval=1,
        max_keep_ckpts=1,
        save_best='vicl/mIoU',
        rule='greater'))
