# The MAE-VQGAN single-prompt baseline (Bar et al., NeurIPS 2022) on
# Pascal-5i val fold 0: the frozen inpainter with the top-1 retrieved
# prompt, nothing trained. Test-only:
#   python tools/test.py \
#       configs/maevqgan/maevqgan-n1_mae-vqgan-l16_pascal5i-fold0.py \
#       checkpoints/mae_vqgan_mmengine.pth
# (the backbone converted by tools/model_converters/mae_vqgan2mmengine.py).
# Published number: none in the PromptHub README; with the same top-1
# retrieval this is the "MAE-VQGAN + retrieved prompt" baseline of the
# VICL papers (docs/method.md, section 10).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/pascal5i.py',
]
num_prompts = 1
model_selection = None  # nothing is trained
model = dict(
    type='VICLInpainter',
    data_preprocessor=dict(
        type='VICLDataPreprocessor', num_prompts='${num_prompts}'),
    # One image per VQGAN decode, as the reference (bit-equal pastes).
    backbone=dict(type='MAEVQGAN', decode_per_image=True),
    prompt_slot=1,
    binarize='reference')

# Nothing is trained or validated.
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
