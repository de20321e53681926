# Variant: the cosine-conflict form of the alignment term (v2 wording).
_base_ = ['./hgprompt_vit-tiny-p8_vtab-synth-count6.py']
model = dict(
    loss_gar=dict(type='HGGradAlignLoss', gar_type='cos', conflict='hinge'))
