# Ablation: without the utilization loss L_u (prediction L_p and semantic
# alignment L_s only); otherwise as its `_base_`.
# Published number: none in the README (paper ablation).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(losses=[
    dict(type='PredictionLoss', loss_weight=1.0),
    dict(type='SemanticAlignmentLoss', loss_weight=0.5, match_reference=True),
])
