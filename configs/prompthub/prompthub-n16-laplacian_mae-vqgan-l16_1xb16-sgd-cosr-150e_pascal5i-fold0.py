# Ablation: Laplacian locality weights (exp(-L1 / sigma), normalised per
# centre) instead of the Gaussian; otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(neck=dict(locality='laplacian'))
