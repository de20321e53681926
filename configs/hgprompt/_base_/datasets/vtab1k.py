# One VTAB-1k task in the NOAH layout (data/vtab-1k/<task>), as VPT: 224x224
# without augmentation, batch 128; train on train800val200, test on test.
# The protocol (projects/hgprompt/tools/run_vtab_protocol.py) trains on
# train800 and validates on val200 to choose lr and weight decay.
# The leaf configs set `task` and `num_classes`; '${name}' values are the
# top-level keys, filled in when the whole config is loaded
# (projects/prompthub/utils/config_references.py), so `task = 'dtd'` or
# `--cfg-options data_root=DIR num_classes=N` reaches every loader and the
# model.
task = 'cifar'
num_classes = 100
data_root = 'data/vtab-1k/${task}'
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
        data_root='${data_root}',
        split='train800val200',
        num_classes='${num_classes}',
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=256,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root='${data_root}',
        split='test',
        num_classes='${num_classes}',
        test_mode=True,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='HGAccuracy', topk=(1, ))
test_evaluator = val_evaluator
