# VPT-deep on a generated source task (frozen tiny ViT, train800val200);
# the trained prompt is saved to <work_dir>/prompt.pth in the bank format,
# named after the data folder. Set the task with --cfg-options (see
# projects/hgprompt/tools/demo.py), e.g.
#   data_root=work_dirs/hgprompt_demo/vtab_suite/bar_ori model.num_classes=4
# Batch 50 x 24 epochs = 480 Adam steps (the same images seen as batch 100
# x 24 epochs, twice the steps): prompts trained with 240 steps were
# under-trained and transferred no better than a fresh prompt (see
# configs/hgprompt/README.md).
_base_ = ['./_base_/vpt-deep_vit-tiny-p8_vtab-synth.py']
task = 'count4'
data_root = 'work_dirs/hgprompt_demo/vtab_suite/${task}'
model = dict(num_classes=4, init='random')
train_dataloader = dict(batch_size=50)
optim_wrapper = dict(optimizer=dict(lr=3e-2))
train_cfg = dict(max_epochs=24, val_interval=24)
custom_hooks = [dict(type='RNGStateHook'), dict(type='VPTPromptSaveHook')]
