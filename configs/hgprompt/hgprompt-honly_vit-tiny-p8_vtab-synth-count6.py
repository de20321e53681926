# Ablation: HGPrompt without the gradient-alignment term (lambda_G = 0).
_base_ = ['./hgprompt_vit-tiny-p8_vtab-synth-count6.py']
model = dict(loss_gar=dict(loss_weight=0.0))
