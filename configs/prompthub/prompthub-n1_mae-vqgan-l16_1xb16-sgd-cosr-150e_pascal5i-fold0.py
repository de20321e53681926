# PromptHub on Pascal-5i fold 0 with N = 1 prompt(s); otherwise as
# prompthub_seg.py. Reproduces: 43.26 mIoU (README, Seg_K_1_Fold_0).
_base_ = './prompthub_seg.py'

fold = 0
num_prompts = 1
train_index = 'data/retrieval/pascal_fold0_trn_top50.npz'
test_index = 'data/retrieval/pascal_fold0_val_top50.npz'

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
