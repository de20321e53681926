# PromptHub on Pascal-5i, fold 0, N = 16 prompts: the default recipe
# (configs/prompthub_seg.py, the README's entry point, is this config).
# Frozen MAE-VQGAN (ViT-L/16 + VQGAN f16-1024), locality fusion neck with
# sigma 0.65, SGD lr 0.03 (momentum 0) with per-epoch cosine restarts
# (period 10), AMP, batch 16, 150 epochs (docs/method.md, section 7.5).
# Reproduces: 45.93 mIoU (README, Seg_K_16_Fold_0) with the released
# weights, see docs/reproduction.md.
# On a CPU-only machine add
#   --cfg-options optim_wrapper.type=OptimWrapper
# (AmpOptimWrapper needs CUDA).
_base_ = ['../_base_/prompthub_recipe.py', '../_base_/datasets/pascal5i.py']
model = dict(neck=dict(sigma=0.65))
