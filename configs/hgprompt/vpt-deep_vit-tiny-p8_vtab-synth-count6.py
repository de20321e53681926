# Plain VPT-deep from scratch on the held-out target (count6, 1-6 discs):
# 200 labelled images (a seeded subset of train800val200), 25 epochs of
# batch 50 (100 steps). The stage-B budget every demo method shares.
_base_ = ['./_base_/vpt-deep_vit-tiny-p8_vtab-synth.py']
data_root = 'work_dirs/hgprompt_demo/vtab_suite/count6'
source_prompts = 'work_dirs/hgprompt_demo/prompts'
model = dict(num_classes=6, init='random')
train_dataloader = dict(dataset=dict(max_samples=200, subset_seed=0))
train_cfg = dict(max_epochs=25, val_interval=25)
