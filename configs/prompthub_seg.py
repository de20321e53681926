# The default config, the one the README runs
# (`python tools/train.py configs/prompthub_seg.py`): PromptHub on
# Pascal-5i fold 0 with N = 16 prompts. It is exactly
# prompthub/prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py
# (see there for the recipe and how to run it on a CPU-only machine); the
# other tasks, folds, N and ablations are in configs/prompthub/.
_base_ = './prompthub/prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501
