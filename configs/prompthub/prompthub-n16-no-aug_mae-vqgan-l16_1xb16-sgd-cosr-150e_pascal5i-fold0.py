# Ablation: without the training augmentation (no PromptReplacement: the
# retrieved top-N prompts are always used); otherwise prompthub_seg.py.
# Published number: none in the README (paper ablation).
_base_ = './prompthub_seg.py'

train_dataloader = dict(dataset=dict(pipeline=[dict(type='PackVICLInputs')]))
