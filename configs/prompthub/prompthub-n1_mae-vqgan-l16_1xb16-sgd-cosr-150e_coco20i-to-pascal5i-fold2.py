# PromptHub COCO-20i -> Pascal-5i, fold 2, N = 1 prompt; otherwise as the
# fold-0 N = 16 config.
# Reproduces: 40.43 mIoU (README, Coco_K_1_Fold_2).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_coco20i-to-pascal5i-fold0.py'  # noqa: E501
fold = 2
num_prompts = 1
