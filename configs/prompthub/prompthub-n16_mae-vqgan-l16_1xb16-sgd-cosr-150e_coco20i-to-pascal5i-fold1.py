# PromptHub COCO-20i -> Pascal-5i, fold 1, N = 16 prompts; otherwise as its
# `_base_`.
# Reproduces: 46.71 mIoU (README, Coco_K_16_Fold_1).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_coco20i-to-pascal5i-fold0.py'  # noqa: E501

# The fold-0 config built its datasets with fold 0 (a base is evaluated
# before the config that inherits it), so the fold and its retrieval
# indices are set here in each dataset; the N = 1 config of this fold
# inherits this one.
fold = 1
train_index = f'data/retrieval/coco_fold{fold}_trn_top50.npz'
test_index = f'data/retrieval/coco2pascal_fold{fold}_val_top50.npz'
train_dataloader = dict(
    dataset=dict(index=train_index, dataset=dict(dataset=dict(fold=fold))))
val_dataloader = dict(
    dataset=dict(
        index=train_index,
        dataset=dict(dataset=dict(fold=fold)),
        prompt_dataset=dict(dataset=dict(fold=fold))))
test_dataloader = dict(
    dataset=dict(
        index=test_index,
        dataset=dict(fold=fold),
        prompt_dataset=dict(fold=fold)))
retrieval = dict(
    query_dataset=dict(fold=fold),
    candidate_dataset=dict(fold=fold),
    out=train_index)
