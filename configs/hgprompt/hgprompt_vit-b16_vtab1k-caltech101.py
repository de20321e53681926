# VTAB-1k caltech101 (natural; Caltech-101 object class, 102 classes):
# HGPrompt, target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'caltech101'
num_classes = 102
