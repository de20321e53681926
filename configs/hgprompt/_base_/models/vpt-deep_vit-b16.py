# ViT-B/16 (timm vit_base_patch16_224, ImageNet-21k weights from a LOCAL
# file, never downloaded) with VPT-deep prompts of length 10, as VPT.
backbone_checkpoint = 'checkpoints/vit_base_patch16_224.orig_in21k.pth'
model = dict(
    type='HGPromptClassifier',
    num_classes=100,
    init='random',
    backbone=dict(
        type='VPTPromptedViT',
        arch='vit_base_patch16_224',
        checkpoint=backbone_checkpoint,
        prompt_length=10,
        deep=True),
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]))
