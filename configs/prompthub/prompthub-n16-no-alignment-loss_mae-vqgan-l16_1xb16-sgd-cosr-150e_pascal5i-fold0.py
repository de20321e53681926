# Ablation: without the semantic alignment loss L_s (prediction L_p and
# utilization L_u only); otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(losses=[
    dict(type='PredictionLoss', loss_weight=1.0),
    dict(type='UtilizationLoss', loss_weight=0.2, match_reference=True),
])
