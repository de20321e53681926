# VTAB-1k cifar (natural; CIFAR-100 object class, 100 classes): VPT-deep (the
# source prompt of the bank, saved to prompt.pth). Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/vpt-deep_vit-b16_vtab1k.py']
task = 'cifar'
num_classes = 100
