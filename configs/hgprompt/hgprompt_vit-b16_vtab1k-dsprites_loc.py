# VTAB-1k dsprites_loc (structured; dSprites x position bin, 16 classes):
# HGPrompt, target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'dsprites_loc'
num_classes = 16
