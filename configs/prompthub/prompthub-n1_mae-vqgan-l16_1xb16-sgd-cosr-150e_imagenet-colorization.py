# PromptHub colourisation with N = 1 prompt; otherwise as
# prompthub_color_n16.py. Published number: none (Col_K_1.pth only).
_base_ = './prompthub_color_n16.py'

num_prompts = 1
model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(dataset=dict(num_prompts=num_prompts))
val_dataloader = dict(dataset=dict(num_prompts=num_prompts))
test_dataloader = dict(dataset=dict(num_prompts=num_prompts))
