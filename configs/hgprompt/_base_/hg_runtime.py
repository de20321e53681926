# Runtime of the HGPrompt configs: the project runtime (default_scope mmseg,
# custom_imports, RNGStateHook) with a plain visualizer and no per-epoch
# checkpoints (the runs are short; the last epoch is saved).
_base_ = ['../../_base_/default_runtime.py']

# projects.hgprompt registers the HGPrompt components; projects.prompthub
# the shared engine (runner, checkpoint and RNG hooks).
custom_imports = dict(
    imports=['projects.prompthub', 'projects.hgprompt'],
    allow_failed_imports=False)

visualizer = dict(
    type='Visualizer',
    vis_backends=[dict(type='LocalVisBackend')],
    _delete_=True)
default_hooks = dict(
    logger=dict(type='MainProcessLoggerHook', interval=10),
    checkpoint=dict(
        type='SafeCheckpointHook', by_epoch=True, interval=-1, save_last=True),
    # Off until tools/test.py --show/--show-dir: image, GT and prediction.
    visualization=dict(
        type='HGClsVisualizationHook', draw=False, interval=50, _delete_=True))
