"""Training-time replacement of retrieved prompts (docs/method.md, §8)."""
from typing import Any, List, Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from projects.prompthub.registry import TRANSFORMS
from projects.prompthub.utils.validation import check_probability

KEEP, QUERY, RANDOM = 'keep', 'query', 'random'

# Keys of a query results dict that are not part of its own pair.
_NON_PAIR_KEYS = ('prompt_results', 'prompt_indices', 'mix_results',
                  'mix_indices', 'prompt_replacement')


@TRANSFORMS.register_module()
class PromptReplacement(BaseTransform):
    """Replace retrieved prompts by the query pair or a random pair.

    For every prompt slot independently one uniform draw ``u`` decides
    (the reference's training augmentation):

    - ``u < prob_query``: the slot becomes the query pair itself;
    - ``prob_query <= u < prob_query + prob_random``: the slot becomes a
      uniformly random pair of the prompt pool (the training set);
    - otherwise the retrieved prompt is kept.

    Use it in the **training** pipeline of ``RetrievalAugmentedDataset``
    only. It follows mmdet's mix-transform protocol: the wrapper first
    calls :meth:`get_indexes` with itself (an object exposing
    ``num_prompts`` and ``prompt_dataset``), loads the returned pool
    samples through the prompt dataset's pipeline into
    ``results['mix_results']`` (their pool indices into
    ``results['mix_indices']``) and then calls the transform. The slot
    decisions drawn by :meth:`get_indexes` are kept for the next call of
    :meth:`transform`; called on its own, the transform draws them itself
    and takes random pairs from ``results['mix_results']`` in order.

    Randomness comes from numpy's global RNG, which mmengine seeds per
    dataloader worker from ``randomness.seed``, so runs are reproducible
    under a fixed seed.

    Modified keys: ``prompt_results``, ``prompt_indices`` (-1 marks the
    query pair). Added key: ``prompt_replacement`` (``'keep'``,
    ``'query'`` or ``'random'`` per slot).

    Args:
        prob_query (float): Probability of the query pair, in [0, 1].
            Defaults to 0.1.
        prob_random (float): Probability of a random pair, in [0, 1].
            Defaults to 0.2. ``prob_query + prob_random`` must be <= 1.
    """

    def __init__(self,
                 prob_query: float = 0.1,
                 prob_random: float = 0.2) -> None:
        owner = self.__class__.__name__
        prob_query = check_probability(prob_query, 'prob_query', owner)
        prob_random = check_probability(prob_random, 'prob_random', owner)
        if prob_query + prob_random > 1:
            raise ValueError(
                f'{owner}: prob_query + prob_random must be <= 1, got '
                f'{prob_query} + {prob_random}. Lower one of them in the '
                'config.')
        self.prob_query = prob_query
        self.prob_random = prob_random
        self._pending: Optional[List[str]] = None

    def draw_decisions(self, num_slots: int) -> List[str]:
        """Draw one decision per slot from ``np.random``.

        Args:
            num_slots (int): Number of prompt slots.

        Returns:
            list[str]: ``'keep'``, ``'query'`` or ``'random'`` per slot.
        """
        u = np.random.random_sample(num_slots)
        decisions = np.full(num_slots, KEEP, dtype=object)
        decisions[u < self.prob_query + self.prob_random] = RANDOM
        decisions[u < self.prob_query] = QUERY
        return decisions.tolist()

    @cache_randomness
    def get_indexes(self, dataset: Any) -> List[int]:
        """Draw the slot decisions and the random pool indices.

        Args:
            dataset: The ``RetrievalAugmentedDataset`` (any object with
                ``num_prompts`` and ``prompt_dataset``).

        Returns:
            list[int]: Indices into ``dataset.prompt_dataset``, one per
            slot drawn as ``'random'``, in slot order.
        """
        decisions = self.draw_decisions(int(dataset.num_prompts))
        num_random = decisions.count(RANDOM)
        pool_size = len(dataset.prompt_dataset)
        indexes = np.random.randint(0, pool_size, size=num_random)
        self._pending = decisions
        return [int(i) for i in indexes]

    def _query_pair(self, results: dict) -> dict:
        return {k: v for k, v in results.items() if k not in _NON_PAIR_KEYS}

    def transform(self, results: dict) -> dict:
        """Apply the slot decisions.

        Args:
            results (dict): Query results with ``prompt_results`` and
                ``prompt_indices`` (and ``mix_results``/``mix_indices``
                when random slots were drawn).

        Returns:
            dict: ``results`` with replaced prompts.
        """
        prompts = list(results['prompt_results'])
        indices = list(results.get('prompt_indices', [-1] * len(prompts)))
        decisions, self._pending = self._pending, None
        if decisions is None or len(decisions) != len(prompts):
            decisions = self.draw_decisions(len(prompts))
        mix = list(results.get('mix_results', []))
        mix_indices = list(results.get('mix_indices', [-1] * len(mix)))
        if decisions.count(RANDOM) > len(mix):
            raise RuntimeError(
                f'{self.__class__.__name__} drew {decisions.count(RANDOM)} '
                f"random slot(s) but got {len(mix)} 'mix_results'; run it "
                'inside RetrievalAugmentedDataset (which fetches them via '
                'get_indexes) or pass them in results.')
        mix_iter: List[Tuple[dict, int]] = list(zip(mix, mix_indices))
        for k, decision in enumerate(decisions):
            if decision == QUERY:
                prompts[k] = self._query_pair(results)
                indices[k] = -1
            elif decision == RANDOM:
                prompts[k], indices[k] = mix_iter.pop(0)
        results['prompt_results'] = prompts
        results['prompt_indices'] = indices
        results['prompt_replacement'] = decisions
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob_query={self.prob_query}, '
                f'prob_random={self.prob_random})')
