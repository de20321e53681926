# Gradient-surgery alternative to the alignment term: lambda_G = 0 and,
# in stage A, one loss per source, w_k * CE(head(z(x; P_k)), y), combined
# by PCGrad (HGPCGradOptimWrapper) over the shared weight logits and head;
# the H-score and the detached-head CE are added unchanged. Stage B and
# the H-score prior are those of the main HGPrompt config.
_base_ = ['./hgprompt_vit-tiny-p8_vtab-synth-count6.py']
model = dict(
    loss_gar=dict(type='HGGradAlignLoss', loss_weight=0.0),
    grad_surgery='pcgrad')
optim_wrapper = dict(type='HGPCGradOptimWrapper', reduction='sum', seed=0)
