# Runtime shared by every PromptHub config.
# Our components register into MMEngine's root registries, so they resolve
# under mmseg's scope next to mmseg's own (see docs/design.md).
default_scope = 'mmseg'
custom_imports = dict(
    imports=['projects.prompthub'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
# Episode grids: prompts, fused prompt, prediction, ground truth.
visualizer = dict(
    type='VICLLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
# Checkpoints (load_from, tools/test.py, resume) load exactly: every model
# key with its shape, no extra keys. load_from_allow names key prefixes a
# file may lack (weights from the module's init_cfg Pretrained or
# constructor checkpoint) or carry unused, e.g. missing=['backbone.'].
runner_type = 'StrictLoadRunner'
load_from_allow = dict(missing=[], unexpected=[])
randomness = dict(seed=0)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # LoggerHook, with the test metrics JSON written by rank 0 only.
    logger=dict(
        type='MainProcessLoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # CheckpointHook that survives a kill mid-save (atomic writes, old
    # files deleted last) and resumes from the newest readable checkpoint.
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Off until tools/test.py --show/--show-dir (mmseg's interface).
    visualization=dict(type='VICLVisualizationHook', draw=False, interval=50))
# Exact resume: the random streams are saved with every checkpoint; the
# caches' hits and misses are logged after every epoch.
custom_hooks = [dict(type='RNGStateHook'), dict(type='CacheStatsHook')]
