# Ablation: CONDENSER-style patch-wise fusion (each query token attends to
# the same position in every prompt); otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(
    neck=dict(
        _delete_=True,
        type='PatchwiseFusionNeck',
        embed_dims=1024,
        num_heads=8,
        dropout=0.25,
        reassociate=True))
