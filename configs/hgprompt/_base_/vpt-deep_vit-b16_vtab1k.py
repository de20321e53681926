# VPT-deep (L=10) on one VTAB-1k task with a frozen ViT-B/16, VPT's recipe.
# The trained prompt is saved to <work_dir>/prompt.pth in the bank format
# (task = the data folder's name); run_vtab_protocol.py collects the first
# seed's prompt of every task into <work-dir>/prompts, the source bank of
# the HGPrompt configs. The leaf configs vpt-deep_vit-b16_vtab1k-<task>.py
# set the task.
_base_ = [
    './hg_runtime.py', './models/vpt-deep_vit-b16.py', './datasets/vtab1k.py',
    './schedules/vpt_sgd-cosine_100e.py'
]
model = dict(init='random')
custom_hooks = [dict(type='RNGStateHook'), dict(type='VPTPromptSaveHook')]
