# Pretrain the tiny ViT (all weights, no prompt) on the generated mixed
# upstream task (shape / colour / y-position / texture, 14 classes); the
# demo's stand-in for ImageNet-21k pretraining. The demo converts the last
# checkpoint into the backbone file the other configs load.
_base_ = ['./_base_/vpt-deep_vit-tiny-p8_vtab-synth.py']
data_root = 'work_dirs/hgprompt_demo/vtab_suite/upstream'
model = dict(
    num_classes=14,
    init='none',
    backbone=dict(checkpoint=None, prompt_length=0, frozen=False))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=0.05))
train_cfg = dict(max_epochs=12, val_interval=12)
