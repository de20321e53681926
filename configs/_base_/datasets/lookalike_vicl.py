# Look-alike synthetic VICL data (rendered on the fly, no download):
# fold 0 trains on 9 colour classes and tests on 3 held-out ones.
# '${name}' values are the top-level keys (configs/README.md, "Folds and N").
num_prompts = 4
fold = 0
train_pipeline = [dict(type='PackVICLInputs')]
test_pipeline = [dict(type='PackVICLInputs')]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='LookalikeVICLDataset',
        num_samples=20000,
        num_prompts='${num_prompts}',
        fold='${fold}',
        split='train',
        seed=0,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=25,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LookalikeVICLDataset',
        num_samples=300,
        num_prompts='${num_prompts}',
        fold='${fold}',
        split='test',
        seed=1,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# 'threshold' binarisation, like the demo model's: the reference's reference
# uint8 wrap-around only matters for matching published MAE-VQGAN numbers.
val_evaluator = [
    dict(type='VICLIoUMetric', mode='threshold'),
    # mmseg's 2-class mIoU (background included), kept apart by its prefix.
    dict(type='IoUMetric', iou_metrics=['mIoU'], prefix='mmseg'),
]
test_evaluator = val_evaluator
