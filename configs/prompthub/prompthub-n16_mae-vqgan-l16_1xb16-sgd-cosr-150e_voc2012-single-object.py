# PromptHub for single-object detection on Pascal VOC 2012 (box masks),
# N = 16 prompts, sigma 0.5; otherwise the Pascal-5i recipe. The metric fills
# the bounding box of the largest predicted component (docs/method.md, section
# 9.3). Reproduces: 45.59 mIoU (README, Det_K_16).
_base_ = [
    '../_base_/prompthub_recipe.py', '../_base_/datasets/voc_single_object.py'
]
model = dict(neck=dict(sigma=0.5))
