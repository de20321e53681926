# PromptHub on Pascal-5i, fold 0, N = 1 prompt; otherwise as its
# N = 16 config.
# Reproduces: 43.26 mIoU (README, Seg_K_1_Fold_0).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501
num_prompts = 1
