# PromptHub mixed into a stock mmseg dataset config: Pascal VOC 2012 as
# mmseg ships it (`mmseg::_base_/datasets/pascal_voc12.py`), with the data
# where mmseg puts it:
#   data/VOCdevkit/VOC2012/JPEGImages/*.jpg
#   data/VOCdevkit/VOC2012/SegmentationClass/*.png   (label ids, 255 border)
#   data/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt
#
# What the mix changes; everything else of the dataset config is mmseg's:
# - Each stock dataset dict is wrapped in `StockSegToVICL`: one binary
#   record per (image, class of `vicl_classes` in its mask). The foreground
#   is exactly the pixels mmseg's LoadAnnotations gives that class's label
#   id (the index in the dataset's classes: VOC 1 aeroplane ... 20
#   tvmonitor). Images without any of the classes are dropped
#   (`missing_class='skip'`) and counted in the log. The stock pipelines
#   stay in the stock dicts but are not run: LoadVICLPair loads the pairs.
# - `RetrievalAugmentedDataset` gives each query its top-N prompts from the
#   train split; build the two indices first (see `retrieval` below).
# - The evaluator is VICLIoUMetric (per-image foreground IoU), not mmseg's
#   21-class IoUMetric.
# - The model, runtime and schedule are this project's (PromptHub: frozen
#   MAE-VQGAN + locality fusion neck). The fusion neck is not an mmseg
#   `EncoderDecoder` neck: it cannot be put into an mmseg segmentor config.
# As in mmseg's VOC config, validation and test both use the val split.
# Scores are not the paper's Pascal-5i numbers (VOC SegmentationClass masks
# instead of SBD's, other episodes).
#
#   CONFIG=configs/prompthub/prompthub-n16-mmseg-mixin_mae-vqgan-l16_1xb16-sgd-cosr-150e_voc2012.py
#   python tools/misc/build_retrieval_index.py $CONFIG
#   python tools/misc/build_retrieval_index.py $CONFIG --key test_retrieval
#   python tools/test.py $CONFIG CHECKPOINT
_base_ = [
    'mmseg::_base_/datasets/pascal_voc12.py',
    '../_base_/prompthub_recipe.py',
]
# Registers PromptHub's components (StockSegToVICL, LoadVICLPair, ...).
custom_imports = dict(
    imports=['projects.prompthub'], allow_failed_imports=False)

# Foreground classes, by name or mmseg label id (here Pascal-5i fold 0's).
vicl_classes = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle']
num_prompts = 16
train_index = 'data/retrieval/voc12_train_top50.npz'
test_index = 'data/retrieval/voc12_val_top50.npz'

load_pipeline = [dict(type='LoadVICLPair', task='segmentation', size=111)]
voc_train = dict(
    type='StockSegToVICL',
    dataset={{_base_.train_dataloader.dataset}},
    classes=vicl_classes,
    missing_class='skip',
    pipeline=load_pipeline)
voc_val = dict(
    type='StockSegToVICL',
    dataset={{_base_.val_dataloader.dataset}},
    classes=vicl_classes,
    missing_class='skip',
    test_mode=True,
    pipeline=load_pipeline)

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='RetrievalAugmentedDataset',
        dataset=voc_train,
        index='${train_index}',
        num_prompts='${num_prompts}',
        prompt_rule='query_class',
        pipeline=[
            dict(type='PromptReplacement', prob_query=0.1, prob_random=0.2),
            dict(type='PackVICLInputs')
        ]))
val_dataloader = dict(
    batch_size=8,
    dataset=dict(
        _delete_=True,
        type='RetrievalAugmentedDataset',
        dataset=voc_val,
        prompt_dataset=voc_train,
        index='${test_index}',
        num_prompts='${num_prompts}',
        prompt_rule='last',
        test_mode=True,
        pipeline=[dict(type='PackVICLInputs')]))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VICLIoUMetric', task='segmentation')
test_evaluator = val_evaluator

# Prompt retrieval (tools/misc/build_retrieval_index.py): train -> train for
# training, val -> train (`--key test_retrieval`) for validation and test.
# Pixel-level CLIP ViT-L/14 laion2b features, as for Pascal-5i.
retrieval = dict(
    query_dataset=voc_train,
    candidate_dataset=voc_train,
    exclude_self=True,
    model='vit_large_patch14_clip_224.laion2b',
    weights='checkpoints/open_clip_vit_large_patch14_laion2b.bin',
    feature='pixel',
    topk=50,
    batch_size=16,
    feature_dir='data/retrieval/voc12_features',
    out='${train_index}')
test_retrieval = dict(
    retrieval,
    query_dataset=voc_val,
    exclude_self=False,
    out='${test_index}')
