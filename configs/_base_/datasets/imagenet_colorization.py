# ImageNet colourisation: grayscale input -> colour target, in the
# reference's prepared folders (docs/method.md, section 5).
#
# Layout under `data_root`:
#   train_data/*.jpg,  train_label/*.jpg   grayscale inputs / colour targets
#   test_data/*.JPEG,  test_label/*.JPEG   (ILSVRC 2012 val, 50,000 images)
# (`ImageNetColorizationDataset(mode='folder')` derives the gray input from
# plain ImageNet folders instead.) The reference trains on 50,000 train
# files per epoch: `indices=50000` takes the first 50,000 in sorted order.
# Retrieval indices:
#   data/retrieval/imagenet_color_train_top50.npz  train -> train
#   data/retrieval/imagenet_color_test_top50.npz   test -> train
# A value written '${name}' is the top-level key `name`, filled in when the
# whole config is loaded (projects/prompthub/utils/config_references.py):
# a config that inherits this one sets `num_prompts = 1` once
# and every dataset and the model follow.
dataset_type = 'ImageNetColorizationDataset'
data_root = 'data/imagenet'
num_prompts = 16
holdout = dict(ratio=0.1, seed=0)
model_selection = 'holdout'  # see pascal5i.py
train_index = 'data/retrieval/imagenet_color_train_top50.npz'
test_index = 'data/retrieval/imagenet_color_test_top50.npz'

load_pipeline = [dict(type='LoadVICLPair', task='colorization', size=111)]
train_pipeline = [
    dict(type='PromptReplacement', prob_query=0.1, prob_random=0.2),
    dict(type='PackVICLInputs')
]
test_pipeline = [dict(type='PackVICLInputs')]

trn_set = dict(
    type=dataset_type,
    data_root='${data_root}',
    mode='prepared',
    split='train',
    indices=50000,
    pipeline=load_pipeline)
val_set = dict(
    type=dataset_type,
    data_root='${data_root}',
    mode='prepared',
    split='test',
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
val_evaluator = dict(type='ColorizationMSE')
test_evaluator = val_evaluator

# The reference retrieves colourisation prompts with pooled features of the
# grayscale inputs, ImageNet-normalised (docs/method.md, section 4). train ->
# train; for the test index add
#   --cfg-options retrieval.query_dataset.split=test \
#       retrieval.query_dataset.indices=None retrieval.exclude_self=False \
#       retrieval.out=<test_index>
retrieval = dict(
    query_dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        mode='prepared',
        split='train',
        indices=50000),
    candidate_dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        mode='prepared',
        split='train',
        indices=50000),
    exclude_self=True,
    model='vit_large_patch14_clip_224.laion2b',
    weights='checkpoints/open_clip_vit_large_patch14_laion2b.bin',
    feature='pooled',
    preprocess=dict(
        resize=224,
        crop=224,
        interpolation='bicubic',
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225)),
    topk=50,
    batch_size=16,
    feature_dir='data/retrieval/features',
    out='${train_index}')
