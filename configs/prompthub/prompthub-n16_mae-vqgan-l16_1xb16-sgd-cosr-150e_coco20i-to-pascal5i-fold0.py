# PromptHub trained on COCO-20i fold 0 (the COCO-2014 train images of the
# fold's 5 Pascal classes) and tested on Pascal-5i val fold 0 with prompts
# retrieved from those COCO images; N = 16, sigma 0.65, recipe as
# the Pascal-5i configs. The held-out validation part is carved from the COCO
# training list. Reproduces: 42.69 mIoU (README, Coco_K_16_Fold_0).
_base_ = [
    '../_base_/prompthub_recipe.py',
    '../_base_/datasets/coco20i_to_pascal5i.py'
]
model = dict(neck=dict(sigma=0.65))
