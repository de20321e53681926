"""Values that would quietly change a run fail where they are used."""
import pytest

from projects.prompthub.datasets import (LookalikeVICLDataset,
                                         RetrievalAugmentedDataset,
                                         SyntheticVICLDataset)
from projects.prompthub.datasets.transforms import PromptReplacement
from projects.prompthub.models.data_preprocessor import VICLDataPreprocessor

NAN = float('nan')


@pytest.mark.parametrize('kwargs, key', [
    (dict(prob_query=NAN), 'prob_query'),
    (dict(prob_random=NAN), 'prob_random'),
    (dict(prob_query=1.5, prob_random=0.0), 'prob_query'),
    (dict(prob_query=-0.1), 'prob_query'),
    (dict(prob_random='0.2'), 'prob_random'),
    (dict(prob_query=True), 'prob_query'),
])
def test_prompt_replacement_probabilities(kwargs, key):
    with pytest.raises(ValueError) as err:
        PromptReplacement(**kwargs)
    assert f'PromptReplacement: {key} must be a probability in [0, 1]' in \
        str(err.value)


def test_prompt_replacement_probabilities_sum_at_most_one():
    with pytest.raises(ValueError, match=r'prob_query \+ prob_random'):
        PromptReplacement(prob_query=0.6, prob_random=0.5)
    t = PromptReplacement(prob_query=0.0, prob_random=1.0)
    assert (t.prob_query, t.prob_random) == (0.0, 1.0)


@pytest.mark.parametrize('cls', [SyntheticVICLDataset, LookalikeVICLDataset])
@pytest.mark.parametrize('key, value', [('num_prompts', 0),
                                        ('num_prompts', -2),
                                        ('num_prompts', 2.5),
                                        ('num_prompts', True),
                                        ('num_samples', 0)])
def test_rendered_datasets_need_positive_counts(cls, key, value):
    with pytest.raises(ValueError) as err:
        cls(**{key: value})
    assert f'{cls.__name__}: {key} must be an integer >= 1, got ' \
        f'{value!r}' in str(err.value)


@pytest.mark.parametrize('value', [0, -1, 1.5, '2'])
def test_retrieval_dataset_needs_a_positive_num_prompts(value):
    queries = SyntheticVICLDataset(num_samples=2)
    # The check runs before the index is read.
    with pytest.raises(ValueError) as err:
        RetrievalAugmentedDataset(queries, index=None, num_prompts=value)
    assert 'RetrievalAugmentedDataset: num_prompts must be an integer >= 1' \
        in str(err.value)


def test_preprocessor_num_prompts():
    with pytest.raises(ValueError, match='VICLDataPreprocessor: num_prompts'):
        VICLDataPreprocessor(num_prompts=0)
    assert VICLDataPreprocessor(num_prompts=None).num_prompts is None
    assert VICLDataPreprocessor(num_prompts=3).num_prompts == 3
