# PromptHub on the frozen MAE-VQGAN (ViT-L/16 MAE + VQGAN f16-1024).
# Point `backbone.mae_checkpoint`/`vqgan_checkpoint` at the official files,
# or convert them once with tools/model_converters/mae_vqgan2mmengine.py
# and use `load_from`.
model = dict(
    type='PromptHub',
    data_preprocessor=dict(type='VICLDataPreprocessor'),
    # Decode the predicted codes one image at a time, as the reference
    # does, so the pasted predictions are bit-equal to its (batched decode
    # flips ~1e-4 of the uint8 values by one level; cost in
    # docs/benchmarks.md).
    backbone=dict(type='MAEVQGAN', decode_per_image=True),
    neck=dict(
        type='LocalityFusionNeck',
        embed_dims=1024,
        num_heads=8,
        dropout=0.25,
        sigma=0.65,
        locality='gaussian'),
    losses=[
        dict(type='PredictionLoss', loss_weight=1.0),
        dict(
            type='SemanticAlignmentLoss',
            loss_weight=0.5,
            match_reference=True),
        dict(type='UtilizationLoss', loss_weight=0.2, match_reference=True),
    ],
    binarize='reference',
    # Inference computes what the neck derives from a prompt alone once per
    # distinct prompt (docs/benchmarks.md); results equal the uncached path
    # up to float rounding. None turns it off.
    prompt_state_cache=dict(max_items=4096))
