# The CPU demo (README main command, `python demo/cpu_demo.py`): PromptHub's
# locality fusion neck trained on top of the tiny pixel backbone that
# tools/misc/pretrain_tiny_backbone.py pretrained (committed under
# projects/prompthub/weights/), on look-alike synthetic data, evaluated on
# held-out classes. Deviations from the paper recipe, for a few CPU
# minutes: AdamW at 1e-3 instead of SGD at 0.03, a few hundred iterations.
_base_ = [
    '../_base_/default_runtime.py', '../_base_/datasets/lookalike_vicl.py'
]

custom_imports = dict(
    imports=['projects.prompthub', 'projects.prompthub.visualization'],
    allow_failed_imports=False)

model = dict(
    type='PromptHub',
    data_preprocessor=dict(type='VICLDataPreprocessor', num_prompts=4),
    backbone=dict(
        type='TinyVICLBackbone',
        embed_dim=64,
        depth=2,
        num_heads=4,
        mlp_ratio=2.,
        sub_size=8,
        head_dim=32,
        num_protos=4,
        checkpoint='projects/prompthub/weights/tiny_vicl_fold0.pth'),
    neck=dict(
        type='LocalityFusionNeck',
        embed_dims=256,  # 64 learned + 192 raw pixel dims per token
        num_heads=4,
        dropout=0.1,
        sigma=0.65,
        locality='gaussian',
        # Pass-through start: this backbone reads raw pixel values from the
        # prompt tokens, which the reference's random W_VX/out projections
        # scramble.
        init_cfg=dict(type='PassThrough'),
        # Keys also see each prompt token's label, so the neck can learn
        # "take the prompt that labels this position" (measured, 200
        # iterations: N=4 IoU 0.244 without, 0.526 with).
        label_keys=True),
    losses=[
        dict(type='PredictionLoss', loss_weight=1.0),
        dict(
            type='SemanticAlignmentLoss',
            loss_weight=0.5,
            match_reference=True),
        dict(type='UtilizationLoss', loss_weight=0.2, match_reference=True),
    ],
    binarize='threshold')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    clip_grad=dict(max_norm=1.0))
max_iters = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(
        type='CosineAnnealingLR',
        by_epoch=False,
        begin=30,
        end=max_iters,
        T_max=max_iters - 30),
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(
        type='MainProcessLoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=False, interval=max_iters),
    # Grids of the first 4 queries of every validation under
    # {work_dir}/vis/val_iter_N/ (interval above the 12 val batches).
    visualization=dict(draw=True, interval=1000, num_samples=4, out_dir='vis'))
