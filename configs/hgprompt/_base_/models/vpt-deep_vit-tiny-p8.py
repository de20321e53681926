# A tiny timm ViT (32x32 input, patch 8, d=64, 4 blocks) with VPT-deep
# prompts of length 4; the CPU stand-in for ViT-B/16 in tests and the demo.
backbone_checkpoint = 'work_dirs/hgprompt_demo/backbone/vit_tiny_upstream.pth'
model = dict(
    type='HGPromptClassifier',
    num_classes=6,
    init='random',
    backbone=dict(
        type='VPTPromptedViT',
        arch='vit_tiny_patch16_224',
        vit_kwargs=dict(
            img_size=32, patch_size=8, embed_dim=64, depth=4, num_heads=4),
        checkpoint=backbone_checkpoint,
        prompt_length=4,
        deep=True),
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375]))
