# VTAB-1k eurosat (specialized; EuroSAT land-use class, 10 classes): HGPrompt,
# target of leave-one-out transfer from the other tasks. Written by
# projects/hgprompt/tools/make_vtab_configs.py from
# projects/hgprompt/datasets/vtab_tasks.py: edit those, not this file.
_base_ = ['./_base_/hgprompt_vit-b16_vtab1k.py']
task = 'eurosat'
num_classes = 10
data_root = 'data/vtab-1k/eurosat'
model = dict(num_classes=num_classes, target_task=task)
train_dataloader = dict(
    dataset=dict(data_root=data_root, num_classes=num_classes))
val_dataloader = dict(
    dataset=dict(data_root=data_root, num_classes=num_classes))
test_dataloader = dict(
    dataset=dict(data_root=data_root, num_classes=num_classes))
