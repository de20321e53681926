# Baseline: the target prompt starts from the uniform average of the K
# source prompts (static aggregation), then VPT tuning at the same budget.
_base_ = ['./vpt-deep_vit-tiny-p8_vtab-synth-count6.py']
model = dict(
    init='uniform',
    source_prompts={{_base_.source_prompts}},
    target_task='count6')
