# PromptHub colourisation with N = 1 prompt; otherwise as its
# `_base_`. Published number: none (Col_K_1.pth only).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_imagenet-colorization.py'  # noqa: E501

num_prompts = 1
model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(dataset=dict(num_prompts=num_prompts))
val_dataloader = dict(dataset=dict(num_prompts=num_prompts))
test_dataloader = dict(dataset=dict(num_prompts=num_prompts))
