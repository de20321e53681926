# Ablation: CONDENSER-style patch-wise fusion (each query token attends to
# the same position in every prompt); otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(neck=dict(locality='patchwise'))
