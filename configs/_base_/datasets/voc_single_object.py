# Pascal VOC 2012 single-object detection as box-mask pairs: images with
# exactly one annotated object covering < 20% of the image (docs/method.md,
# section 5); the label image is the filled box.
#
# Layout under `data_root` (VOCtrainval_11-May-2012.tar):
#   VOC2012/JPEGImages/*.jpg, VOC2012/Annotations/*.xml,
#   VOC2012/ImageSets/Main/{train,val}.txt
# Retrieval indices:
#   data/retrieval/voc_det_train_top50.npz  train -> train
#   data/retrieval/voc_det_val_top50.npz    val -> train (test queries)
#
# Training queries and prompts: the `train` part of the filtered train list;
# `val_dataloader`: its held-out 10%; `test_dataloader`: the filtered val
# list with prompts from the whole filtered train list.
# A value written '${name}' is the top-level key `name`, filled in when the
# whole config is loaded (projects/prompthub/utils/config_references.py):
# a config that inherits this one sets `num_prompts = 1` once
# and every dataset and the model follow.
dataset_type = 'VOCSingleObjectDataset'
data_root = 'data/VOCdevkit'
num_prompts = 16
holdout = dict(ratio=0.1, seed=0)
model_selection = 'holdout'  # see pascal5i.py
train_index = 'data/retrieval/voc_det_train_top50.npz'
test_index = 'data/retrieval/voc_det_val_top50.npz'

load_pipeline = [dict(type='LoadVICLPair', task='detection', size=111)]
train_pipeline = [
    dict(type='PromptReplacement', prob_query=0.1, prob_random=0.2),
    dict(type='PackVICLInputs')
]
test_pipeline = [dict(type='PackVICLInputs')]

trn_set = dict(
    type=dataset_type,
    data_root='${data_root}',
    split='train',
    pipeline=load_pipeline)
val_set = dict(
    type=dataset_type,
    data_root='${data_root}',
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
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='VICLIoUMetric', task='detection')
test_evaluator = val_evaluator

# train -> train index; for the test index add
#   --cfg-options retrieval.query_dataset.split=val \
#       retrieval.exclude_self=False retrieval.out=<test_index>
retrieval = dict(
    query_dataset=dict(
        type=dataset_type, data_root='${data_root}', split='train'),
    candidate_dataset=dict(
        type=dataset_type, data_root='${data_root}', split='train'),
    exclude_self=True,
    model='vit_large_patch14_clip_224.laion2b',
    weights='checkpoints/open_clip_vit_large_patch14_laion2b.bin',
    feature='pixel',
    topk=50,
    batch_size=16,
    feature_dir='data/retrieval/features',
    out='${train_index}')
