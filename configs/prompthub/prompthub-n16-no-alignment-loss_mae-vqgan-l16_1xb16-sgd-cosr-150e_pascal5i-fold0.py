# Ablation: without the semantic alignment loss L_s (prediction L_p and
# utilization L_u only); otherwise as its `_base_`.
# Published number: none in the README (paper ablation).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(losses=[
    dict(type='PredictionLoss', loss_weight=1.0),
    dict(type='UtilizationLoss', loss_weight=0.2, match_reference=True),
])
