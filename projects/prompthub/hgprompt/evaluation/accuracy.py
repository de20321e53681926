"""Top-k accuracy for :class:`HGPromptClassifier` outputs."""
from typing import Sequence

import torch
from mmengine.evaluator import BaseMetric

from projects.prompthub.registry import METRICS


@METRICS.register_module()
class HGAccuracy(BaseMetric):
    """Top-k accuracy in percent, keys ``accuracy/top{k}``.

    Args:
        topk (Sequence[int]): Defaults to ``(1, )``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'accuracy'``.
    """

    default_prefix = 'accuracy'

    def __init__(self,
                 topk: Sequence[int] = (1, ),
                 collect_device: str = 'cpu',
                 prefix: str = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's scores and label."""
        for sample in data_samples:
            self.results.append(
                dict(
                    score=torch.as_tensor(sample['pred_score']).cpu(),
                    label=int(sample['gt_label'])))

    def compute_metrics(self, results: list) -> dict:
        """Return ``{'top1': ..., ...}`` in percent."""
        scores = torch.stack([r['score'] for r in results])
        labels = torch.as_tensor([r['label'] for r in results])
        out = {}
        for k in self.topk:
            top = scores.topk(min(k, scores.shape[1]), dim=1).indices
            hit = (top == labels[:, None]).any(1).float().mean()
            out[f'top{k}'] = float(hit) * 100
        return out
