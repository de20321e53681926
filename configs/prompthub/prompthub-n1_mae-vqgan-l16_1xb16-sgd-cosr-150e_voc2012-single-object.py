# PromptHub detection with N = 1 prompt; otherwise as its `_base_`.
# Reproduces: 44.51 mIoU (README, Det_K_1).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_voc2012-single-object.py'  # noqa: E501
num_prompts = 1
