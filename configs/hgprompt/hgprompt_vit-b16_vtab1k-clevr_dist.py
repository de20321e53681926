# VTAB-1k clevr_dist (structured; CLEVR distance of the closest object, 6
# classes): HGPrompt, target of leave-one-out transfer from the other tasks.
# Written by projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'clevr_dist'
num_classes = 6
