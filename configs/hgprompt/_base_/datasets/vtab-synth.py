# The generated VTAB-like suite (projects/hgprompt/tools/make_vtab_suite.py):
# 32x32 images in the NOAH layout. Set ``data_root`` per task: the loaders
# refer to it as '${data_root}' (see
# projects/prompthub/utils/config_references.py).
data_root = 'work_dirs/hgprompt_demo/vtab_suite/count6'
train_pipeline = [
    dict(type='HGLoadImage', size=32),
    dict(type='HGPackClsInputs')
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=50,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root='${data_root}',
        split='train800val200',
        pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=250,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='VTAB1kDataset',
        data_root='${data_root}',
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
val_dataloader = test_dataloader
val_evaluator = dict(type='HGAccuracy', topk=(1, ))
test_evaluator = val_evaluator
