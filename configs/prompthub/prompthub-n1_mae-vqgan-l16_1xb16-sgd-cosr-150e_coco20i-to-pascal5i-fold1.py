# PromptHub COCO-20i -> Pascal-5i, fold 1, N = 1 prompt(s); otherwise
# as prompthub_coco2pascal_fold0_n16.py.
# Reproduces: 45.24 mIoU (README, Coco_K_1_Fold_1).
_base_ = './prompthub_coco2pascal_fold0_n16.py'

fold = 1
num_prompts = 1
train_index = 'data/retrieval/coco_fold1_trn_top50.npz'
test_index = 'data/retrieval/coco2pascal_fold1_val_top50.npz'

model = dict(data_preprocessor=dict(num_prompts=num_prompts))
train_dataloader = dict(
    dataset=dict(
        index=train_index,
        num_prompts=num_prompts,
        dataset=dict(dataset=dict(fold=fold))))
val_dataloader = dict(
    dataset=dict(
        index=train_index,
        num_prompts=num_prompts,
        dataset=dict(dataset=dict(fold=fold)),
        prompt_dataset=dict(dataset=dict(fold=fold))))
test_dataloader = dict(
    dataset=dict(
        index=test_index,
        num_prompts=num_prompts,
        dataset=dict(fold=fold),
        prompt_dataset=dict(fold=fold)))
retrieval = dict(
    query_dataset=dict(fold=fold),
    candidate_dataset=dict(fold=fold),
    out=train_index)
