# PromptHub detection with N = 1 prompt; otherwise as prompthub_det_n16.py.
# Reproduces: 44.51 mIoU (README, Det_K_1).
_base_ = './prompthub_det_n16.py'

num_prompts = 1
model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(dataset=dict(num_prompts=num_prompts))
val_dataloader = dict(dataset=dict(num_prompts=num_prompts))
test_dataloader = dict(dataset=dict(num_prompts=num_prompts))
