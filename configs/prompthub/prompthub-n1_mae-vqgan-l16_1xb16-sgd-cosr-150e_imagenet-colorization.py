# PromptHub colourisation with N = 1 prompt; otherwise as its
# N = 16 config. Published number: none (Col_K_1.pth only).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_imagenet-colorization.py'  # noqa: E501
num_prompts = 1
