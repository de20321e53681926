# The reference's model selection, for comparison only: validate every
# epoch on the *test* split (Pascal-5i val fold 0, prompts from the whole
# trn list) and keep the best epoch there (docs/method.md, section 9.5).
# Its numbers are optimistic; its `_base_` selects on a held-out part of
# the training list instead.
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model_selection = 'reference'
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='RetrievalAugmentedDataset',
        dataset={{_base_.val_set}},
        prompt_dataset={{_base_.trn_set}},
        index='${test_index}',
        num_prompts='${num_prompts}',
        prompt_rule='last',
        test_mode=True,
        pipeline={{_base_.test_pipeline}}))
val_evaluator = {{_base_.test_evaluator}}
