# COCO-20i -> Pascal-5i transfer, fold `fold`: train on the COCO-2014
# train images of the fold's 5 Pascal classes, test on Pascal-5i val of
# that fold with prompts retrieved from those COCO images (docs/method.md,
# sections 4 and 5).
#
# Layout:
#   data/coco/trn2014/*.jpg, data/coco/Coco_Trainlabel/*.png (contiguous
#   ids 1..80), data/coco/split/coco/trn/fold{0-3}.txt
#   data/VOCdevkit as in pascal5i.py (only the val fold is used)
# Retrieval indices:
#   data/retrieval/coco_fold{k}_trn_top50.npz       COCO trn -> COCO trn
#   data/retrieval/coco2pascal_fold{k}_val_top50.npz Pascal val -> COCO trn
# A value written '${name}' is the top-level key `name`, filled in when the
# whole config is loaded (projects/prompthub/utils/config_references.py):
# a config that inherits this one sets `fold = 1` or `num_prompts = 1` once
# and every dataset, index path and the model follow.
coco_type = 'Coco20iDataset'
pascal_type = 'Pascal5iDataset'
coco_root = 'data/coco'
pascal_root = 'data/VOCdevkit'
fold = 0
num_prompts = 16
holdout = dict(ratio=0.1, seed=0)
model_selection = 'holdout'  # see pascal5i.py
train_index = 'data/retrieval/coco_fold${fold}_trn_top50.npz'
test_index = 'data/retrieval/coco2pascal_fold${fold}_val_top50.npz'

load_pipeline = [dict(type='LoadVICLPair', task='segmentation', size=111)]
train_pipeline = [
    dict(type='PromptReplacement', prob_query=0.1, prob_random=0.2),
    dict(type='PackVICLInputs')
]
test_pipeline = [dict(type='PackVICLInputs')]

trn_set = dict(
    type=coco_type,
    data_root='${coco_root}',
    fold='${fold}',
    split='trn',
    pipeline=load_pipeline)
val_set = dict(
    type=pascal_type,
    data_root='${pascal_root}',
    fold='${fold}',
    split='val',
    test_mode=True,
    pipeline=load_pipeline)
trn_part = dict(type='HoldoutSubset', dataset=trn_set, part='train', **holdout)
holdout_part = dict(
    type='HoldoutSubset', dataset=trn_set, part='holdout', **holdout)

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='RetrievalAugmentedDataset',
        dataset=trn_part,
        index='${train_index}',
        num_prompts='${num_prompts}',
        prompt_rule='query_class',
        skip_unknown_candidates=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='RetrievalAugmentedDataset',
        dataset=holdout_part,
        prompt_dataset=trn_part,
        index='${train_index}',
        num_prompts='${num_prompts}',
        prompt_rule='last',
        exclude_self=True,
        skip_unknown_candidates=True,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='RetrievalAugmentedDataset',
        dataset=val_set,
        prompt_dataset=trn_set,
        index='${test_index}',
        num_prompts='${num_prompts}',
        prompt_rule='last',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='VICLIoUMetric', task='segmentation')
test_evaluator = val_evaluator

# COCO trn -> COCO trn. For the test index (Pascal val -> COCO trn) add
#   --cfg-options retrieval.query_dataset.type=Pascal5iDataset \
#       retrieval.query_dataset.data_root=data/VOCdevkit \
#       retrieval.query_dataset.split=val \
#       retrieval.query_dataset.data_prefix.img_path=VOC2012/JPEGImages \
#       retrieval.query_dataset.data_prefix.seg_map_path=\
#   VOC2012/SegmentationClassAug \
#       retrieval.exclude_self=False retrieval.out=<test_index>
retrieval = dict(
    query_dataset=dict(
        type=coco_type,
        data_root='${coco_root}',
        fold='${fold}',
        split='trn',
        data_prefix=dict(img_path='trn2014', seg_map_path='Coco_Trainlabel')),
    candidate_dataset=dict(
        type=coco_type, data_root='${coco_root}', fold='${fold}', split='trn'),
    exclude_self=True,
    model='vit_large_patch14_clip_224.laion2b',
    weights='checkpoints/open_clip_vit_large_patch14_laion2b.bin',
    feature='pixel',
    topk=50,
    batch_size=16,
    feature_dir='data/retrieval/features',
    out='${train_index}')
