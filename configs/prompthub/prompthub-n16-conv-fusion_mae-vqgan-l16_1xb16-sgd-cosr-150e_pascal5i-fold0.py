# Ablation: convolutional fusion (the reference's PromptGeneratorConv
# idea): 3x3 convolutions give the prompt tokens their locality and the
# cross-attention is patch-wise; otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(
    neck=dict(type='ConvFusionNeck', kernel_size=3, locality='patchwise'))
