# VTAB-1k kitti (structured; KITTI distance of the closest vehicle, 4 classes):
# VPT-deep (the source prompt of the bank, saved to prompt.pth). Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/vpt-deep_vit-b16_vtab1k.py']
task = 'kitti'
num_classes = 4
