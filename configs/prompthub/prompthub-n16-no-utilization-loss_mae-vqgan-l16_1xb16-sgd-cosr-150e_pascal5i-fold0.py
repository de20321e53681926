# Ablation: without the utilization loss L_u (prediction L_p and semantic
# alignment L_s only); otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

model = dict(losses=[
    dict(type='PredictionLoss', loss_weight=1.0),
    dict(type='SemanticAlignmentLoss', loss_weight=0.5, match_reference=True),
])
