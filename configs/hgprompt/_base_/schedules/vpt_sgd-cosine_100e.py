# VPT's recipe (KMnP/vpt configs/base-prompt.yaml, tune_vtab.py): SGD with
# momentum 0.9, 10 linear warm-up epochs then cosine decay to 0, 100 epochs.
# lr and weight decay are chosen on val200 by the protocol from VPT's grids
# (`protocol` below; lrs are per 256 images, scaled by batch / 256 as VPT).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1.25, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=90,
        eta_min=0.0,
        by_epoch=True,
        begin=10,
        end=100,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Read by projects/hgprompt/tools/run_vtab_protocol.py (its options win).
protocol = dict(
    lr_grid=[50.0, 25.0, 10.0, 5.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05],
    wd_grid=[0.01, 0.001, 0.0001, 0.0],
    lr_batch_scale=256,
    seeds=[42, 44, 82, 100, 800])
