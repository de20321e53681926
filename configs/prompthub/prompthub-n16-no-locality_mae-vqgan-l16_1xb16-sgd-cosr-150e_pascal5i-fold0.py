# Ablation: no locality prior (plain cross-attention over all tokens of all
# prompts, no cut); otherwise as its `_base_` (fold 0, N = 16).
# Published number: none in the README (paper ablation; compare with the
# 45.93 of the full model trained with the same recipe).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(neck=dict(locality='global'))
