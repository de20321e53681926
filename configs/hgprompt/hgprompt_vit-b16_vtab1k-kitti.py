# VTAB-1k kitti (structured; KITTI distance of the closest vehicle, 4 classes):
# HGPrompt, target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'kitti'
num_classes = 4
