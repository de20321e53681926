# VTAB-1k smallnorb_ele (structured; smallNORB elevation, 9 classes): HGPrompt,
# target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'smallnorb_ele'
num_classes = 9
