# One VTAB-1k task in the NOAH layout: train on train800val200 (or a
# few-shot subset of it), test on test. Without augmentation, as VPT.
data_root = 'data/vtab-1k/cifar'
img_size = 224
train_pipeline = [
    dict(type='HGLoadImage', size=img_size),
    dict(type='HGPackClsInputs')
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root=data_root,
        split='train800val200',
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='HGAccuracy', topk=(1, ))
test_evaluator = val_evaluator
