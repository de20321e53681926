# The reference recipe (docs/method.md, section 7.5): SGD lr 0.03 without
# momentum or
# weight decay, cosine annealing with warm restarts every 10 epochs,
# stepped once per epoch, 150 epochs, AMP with dynamic loss scaling.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.0, weight_decay=0.0))
max_epochs = 150
restart_period = 10
param_scheduler = [
    dict(
        type='CosineRestartLR',
        by_epoch=True,
        periods=[restart_period] * (max_epochs // restart_period),
        restart_weights=[1.0] * (max_epochs // restart_period),
        eta_min=0.0,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
