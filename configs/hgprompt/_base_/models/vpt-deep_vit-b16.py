# ViT-B/16 (timm vit_base_patch16_224) with VPT-deep prompts of length 10,
# as VPT. ImageNet-21k weights from a LOCAL file, never downloaded: the
# public ViT-B_16.npz that VPT and NOAH use, or a timm state dict (.pth) of
# vit_base_patch16_224.orig_in21k.
backbone_checkpoint = 'checkpoints/ViT-B_16.npz'
model = dict(
    type='HGPromptClassifier',
    num_classes='${num_classes}',
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
