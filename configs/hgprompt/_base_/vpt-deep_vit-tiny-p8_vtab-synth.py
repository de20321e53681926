# VPT-deep with the tiny ViT on the generated VTAB-like suite: the parts the
# CPU demo's configs share. A config sets `data_root` (the task folder).
_base_ = [
    './hg_runtime.py', './models/vpt-deep_vit-tiny-p8.py',
    './datasets/vtab-synth.py', './schedules/adamw_30e.py'
]
