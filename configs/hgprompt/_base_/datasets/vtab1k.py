# One VTAB-1k task in the NOAH layout (data/vtab-1k/<task>), as VPT: 224x224
# without augmentation, batch 128; train on train800val200, test on test.
# The protocol (projects/hgprompt/tools/run_vtab_protocol.py) trains on
# train800 and validates on val200 to choose lr and weight decay.
data_root = 'data/vtab-1k/cifar'
num_classes = 100
img_size = 224
train_pipeline = [
    dict(type='HGLoadImage', size=img_size),
    dict(type='HGPackClsInputs')
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root=data_root,
        split='train800val200',
        num_classes=num_classes,
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=256,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root=data_root,
        split='test',
        num_classes=num_classes,
        test_mode=True,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='HGAccuracy', topk=(1, ))
test_evaluator = val_evaluator
# `--cfg-options data_root=DIR num_classes=N` also sets these keys (the
# values above were resolved when this file was read).
cfg_option_links = dict(
    data_root=[
        'train_dataloader.dataset.data_root',
        'val_dataloader.dataset.data_root', 'test_dataloader.dataset.data_root'
    ],
    num_classes=[
        'model.num_classes', 'train_dataloader.dataset.num_classes',
        'val_dataloader.dataset.num_classes',
        'test_dataloader.dataset.num_classes'
    ])
