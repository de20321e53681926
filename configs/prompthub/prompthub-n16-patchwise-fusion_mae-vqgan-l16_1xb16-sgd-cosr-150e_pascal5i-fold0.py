# Ablation: CONDENSER-style patch-wise fusion (each query token attends to
# the same position in every prompt); otherwise as its
# `_base_`.
# Published number: none in the README (paper ablation).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(neck=dict(locality='patchwise'))
