# PromptHub on Pascal-5i, fold 3, N = 1 prompt; otherwise as the
# fold-0 N = 16 config.
# Reproduces: 42.82 mIoU (README, Seg_K_1_Fold_3).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501
fold = 3
num_prompts = 1
