# PromptHub COCO-20i -> Pascal-5i, fold 1, N = 16 prompts; otherwise as the
# fold-0 config.
# Reproduces: 46.71 mIoU (README, Coco_K_16_Fold_1).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_coco20i-to-pascal5i-fold0.py'  # noqa: E501
fold = 1
