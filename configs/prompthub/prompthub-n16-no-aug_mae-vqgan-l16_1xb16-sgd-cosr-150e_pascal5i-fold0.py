# Ablation: without the training augmentation (no PromptReplacement: the
# retrieved top-N prompts are always used); otherwise as its
# `_base_`.
# Published number: none in the README (paper ablation).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

train_dataloader = dict(dataset=dict(pipeline=[dict(type='PackVICLInputs')]))
