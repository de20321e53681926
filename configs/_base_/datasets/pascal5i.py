# Pascal-5i (VOC 2012 + SBD masks), fold `fold`, as one binary sample per
# (image, class) line of the HSNet/VAT split files.
#
# Layout under `data_root` (tools: see docs/reproduction.md):
#   VOC2012/JPEGImages/*.jpg            VOC 2012 trainval images
#   VOC2012/SegmentationClassAug/*.png  SBD-augmented class masks
#   splits/pascal/{trn,val}/fold{0-3}.txt
# Retrieval indices (top-50 prompts per query, `RetrievalIndex` .npz):
#   data/retrieval/pascal_fold{k}_trn_top50.npz  trn -> trn (training and
#       the held-out validation queries)
#   data/retrieval/pascal_fold{k}_val_top50.npz  val -> trn (test queries)
# Both come from the `retrieval` dict below (see its comment) or from the
# reference's top-50 JSONs (`tools/misc/build_retrieval_index.py --from-json`).
#
# Model selection: training queries and prompts are the `train` part of the
# trn list; `val_dataloader` validates on a disjoint held-out 10% of the
# trn images (`HoldoutSubset`, split by image name), `test_dataloader` is
# the official val fold with prompts from the whole trn list.
# A value written '${name}' is the top-level key `name`, filled in when the
# whole config is loaded (projects/prompthub/utils/config_references.py):
# a config that inherits this one sets `fold = 1` or `num_prompts = 1` once
# and every dataset, index path and the model follow.
dataset_type = 'Pascal5iDataset'
data_root = 'data/VOCdevkit'
fold = 0
num_prompts = 16
holdout = dict(ratio=0.1, seed=0)
# 'holdout': the best epoch is picked on `val_dataloader`, the held-out
# part; the test split is only tested ('reference' validates on it, see
# prompthub-n16-refselect_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py).
model_selection = 'holdout'
train_index = 'data/retrieval/pascal_fold${fold}_trn_top50.npz'
test_index = 'data/retrieval/pascal_fold${fold}_val_top50.npz'

load_pipeline = [dict(type='LoadVICLPair', task='segmentation', size=111)]
train_pipeline = [
    dict(type='PromptReplacement', prob_query=0.1, prob_random=0.2),
    dict(type='PackVICLInputs')
]
test_pipeline = [dict(type='PackVICLInputs')]

trn_set = dict(
    type=dataset_type,
    data_root='${data_root}',
    fold='${fold}',
    split='trn',
    pipeline=load_pipeline)
val_set = dict(
    type=dataset_type,
    data_root='${data_root}',
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
        # Candidates in the held-out part are not prompts.
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

# `python tools/misc/build_retrieval_index.py CONFIG` builds the trn -> trn
# index; the val -> trn index of the test queries is the same recipe with
#   --cfg-options retrieval.query_dataset.split=val \
#       retrieval.exclude_self=False retrieval.out=<test_index>
# Features (pixel-level CLIP ViT-L/14 laion2b, docs/method.md section 4) are
# cached in `feature_dir` and shared by the two runs.
retrieval = dict(
    query_dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        fold='${fold}',
        split='trn'),
    candidate_dataset=dict(
        type=dataset_type,
        data_root='${data_root}',
        fold='${fold}',
        split='trn'),
    exclude_self=True,
    model='vit_large_patch14_clip_224.laion2b',
    weights='checkpoints/open_clip_vit_large_patch14_laion2b.bin',
    feature='pixel',
    topk=50,
    batch_size=16,
    feature_dir='data/retrieval/features',
    out='${train_index}')
