# PromptHub on Pascal-5i, fold 2, N = 1 prompt; otherwise as its
# `_base_`.
# Reproduces: 43.83 mIoU (README, Seg_K_1_Fold_2).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold2.py'  # noqa: E501

num_prompts = 1
model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(dataset=dict(num_prompts=num_prompts))
val_dataloader = dict(dataset=dict(num_prompts=num_prompts))
test_dataloader = dict(dataset=dict(num_prompts=num_prompts))
