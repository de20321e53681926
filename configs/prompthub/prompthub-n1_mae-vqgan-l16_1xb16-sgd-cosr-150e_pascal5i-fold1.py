# PromptHub on Pascal-5i, fold 1, N = 1 prompt; otherwise as its
# `_base_`.
# Reproduces: 50.75 mIoU (README, Seg_K_1_Fold_1).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold1.py'  # noqa: E501

num_prompts = 1
model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(dataset=dict(num_prompts=num_prompts))
val_dataloader = dict(dataset=dict(num_prompts=num_prompts))
test_dataloader = dict(dataset=dict(num_prompts=num_prompts))
