# Ablation: no locality prior (plain cross-attention over all tokens of all
# prompts, no cut); otherwise prompthub_seg.py (fold 0, N = 16).
# Published number: none in the README (paper ablation; compare with the
# 45.93 of the full model trained with the same recipe).
_base_ = './prompthub_seg.py'

model = dict(neck=dict(locality='global'))
