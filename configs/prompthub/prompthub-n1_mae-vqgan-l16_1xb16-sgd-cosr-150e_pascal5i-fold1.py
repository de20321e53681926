# PromptHub on Pascal-5i, fold 1, N = 1 prompt; otherwise as the
# fold-0 N = 16 config.
# Reproduces: 50.75 mIoU (README, Seg_K_1_Fold_1).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501
fold = 1
num_prompts = 1
