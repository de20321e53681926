# Ablation: convolutional fusion (the reference's PromptGeneratorConv
# idea): 3x3 convolutions give the prompt tokens their locality and the
# cross-attention is patch-wise; otherwise as its `_base_`.
# Published number: none in the README (paper ablation).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(
    neck=dict(type='ConvFusionNeck', kernel_size=3, locality='patchwise'))
