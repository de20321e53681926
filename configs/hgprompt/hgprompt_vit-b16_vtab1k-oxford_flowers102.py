# VTAB-1k oxford_flowers102 (natural; Oxford flower species, 102 classes):
# HGPrompt, target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'oxford_flowers102'
num_classes = 102
