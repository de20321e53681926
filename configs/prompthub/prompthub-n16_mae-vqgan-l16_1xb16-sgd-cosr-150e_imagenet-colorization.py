# PromptHub for colourisation on ImageNet (gray -> colour), N = 16 prompts,
# sigma 2.5; otherwise the Pascal-5i recipe. Lower MSE is better, so the best
# checkpoint is the lowest `vicl/mse`.
# Published number: none (the README ships Col_K_16.pth without an MSE).
_base_ = [
    '../_base_/prompthub_recipe.py',
    '../_base_/datasets/imagenet_colorization.py'
]
model = dict(neck=dict(sigma=2.5))
default_hooks = dict(checkpoint=dict(save_best='vicl/mse', rule='less'))
