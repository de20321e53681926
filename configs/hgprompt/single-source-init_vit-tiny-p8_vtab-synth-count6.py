# Baseline (SPoT-style): the target prompt starts from one source prompt,
# chosen by the demo as the source whose features have the highest
# H-score on the target training set; then VPT tuning at the same budget.
_base_ = ['./vpt-deep_vit-tiny-p8_vtab-synth-count6.py']
model = dict(
    init='source',
    source_name='count4',
    source_prompts={{_base_.source_prompts}},
    target_task='count6')
