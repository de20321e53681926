# A tiny PromptHub (same code, small random-weight MAE-VQGAN) trained on
# embedded synthetic data: the CPU smoke run behind `make demo` until the
# real demo lands, and the config of the tools' end-to-end tests.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/models/prompthub_mae-vqgan-l16.py'
]

num_prompts = 2
model = dict(
    data_preprocessor=dict(num_prompts=num_prompts),
    backbone=dict(
        # Smoke runs keep the faster batched decode.
        decode_per_image=False,
        embed_dim=64,
        depth=2,
        num_heads=4,
        decoder_embed_dim=32,
        decoder_depth=1,
        decoder_num_heads=4,
        vqgan_cfg=dict(
            ch=16,
            ch_mult=(1, 1, 1, 1, 2),
            num_res_blocks=1,
            z_channels=16,
            embed_dim=16,
            n_embed=256,
            num_groups=8)),
    neck=dict(embed_dims=64, num_heads=4))

train_pipeline = [dict(type='PackVICLInputs')]
test_pipeline = [dict(type='PackVICLInputs')]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='SyntheticVICLDataset',
        num_samples=16,
        num_prompts=num_prompts,
        classes=[0, 1, 2, 3],
        seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SyntheticVICLDataset',
        num_samples=8,
        num_prompts=num_prompts,
        classes=[4, 5],
        seed=1,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='VICLIoUMetric'),
    # mmseg's 2-class mIoU (background included), kept apart by its prefix.
    dict(type='IoUMetric', iou_metrics=['mIoU'], prefix='mmseg'),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.0, weight_decay=0.0))
param_scheduler = []
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=1))
