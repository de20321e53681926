"""Top-k accuracy for :class:`HGPromptClassifier` outputs."""
import json
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from projects.hgprompt.registry import METRICS
from projects.prompthub.evaluation.prediction_io import check_evaluated_once
from projects.prompthub.utils.atomic_io import atomic_write

#: File of the per-sample predictions under ``output_dir``.
PREDICTIONS_FILE = 'predictions.json'


def _record(sample: dict) -> dict:
    """What ``predictions.json`` says about one sample besides its scores."""
    meta = sample.get('metainfo', sample) if isinstance(sample, dict) else {}
    idx = sample.get('sample_idx', meta.get('sample_idx'))
    if idx is None:
        raise KeyError(
            'data sample has no sample_idx, so its row of predictions.json '
            'cannot be told apart from the others; keep sample_idx in '
            'HGPackClsInputs.meta_keys (it is there by default).')
    path = sample.get('img_path', meta.get('img_path'))
    return dict(
        sample_idx=int(idx), img_path=None if path is None else str(path))


@METRICS.register_module()
class HGAccuracy(BaseMetric):
    """Top-k accuracy in percent, keys ``accuracy/top{k}``.

    With ``output_dir`` (what ``tools/test.py --out DIR`` sets) the main
    process also writes ``{output_dir}/predictions.json`` (atomically):
    the logged metrics and, per test sample in the dataset's order over
    all ranks, ``sample_idx``, ``img_path``, ``gt_label``, ``pred_label``
    (the top-1 class the metric counts) and ``pred_score`` (the softmax
    vector). The numbers do not depend on ``output_dir``.

    Args:
        topk (Sequence[int]): Defaults to ``(1, )``.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'accuracy'``.
        output_dir (str, optional): Folder of ``predictions.json``.
            Defaults to None (nothing written).
    """

    default_prefix = 'accuracy'
    #: ``tools/test.py --out`` sets ``output_dir`` (see
    #: :func:`projects.prompthub.utils.set_prediction_output`).
    writes_predictions = True

    def __init__(self,
                 topk: Sequence[int] = (1, ),
                 collect_device: str = 'cpu',
                 prefix: str = None,
                 output_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)
        if output_dir is not None and (not isinstance(output_dir, str)
                                       or not output_dir):
            raise ValueError(f'HGAccuracy: output_dir must be a folder '
                             f'path, got {output_dir!r}')
        self.output_dir = output_dir

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep each sample's scores and label (and, with ``output_dir``,
        its index and image path)."""
        for sample in data_samples:
            result = dict(
                score=torch.as_tensor(sample['pred_score']).cpu(),
                label=int(sample['gt_label']))
            if self.output_dir is not None:
                result.update(_record(sample))
            self.results.append(result)

    def compute_metrics(self, results: list) -> dict:
        """Return ``{'top1': ..., ...}`` in percent."""
        scores = torch.stack([r['score'] for r in results])
        labels = torch.as_tensor([r['label'] for r in results])
        out = {}
        for k in self.topk:
            top = scores.topk(min(k, scores.shape[1]), dim=1).indices
            hit = (top == labels[:, None]).any(1).float().mean()
            out[f'top{k}'] = float(hit) * 100
        if self.output_dir is not None:
            self._write(results, scores, out)
        return out

    def _write(self, results: list, scores: torch.Tensor,
               metrics: dict) -> str:
        """Write ``predictions.json`` from the gathered results."""
        check_evaluated_once([r['sample_idx'] for r in results],
                             f'{self.output_dir}/{PREDICTIONS_FILE}')
        # The top-1 of the metric itself (topk breaks ties as it does).
        pred = scores.topk(1, dim=1).indices[:, 0].tolist()
        rows = [
            dict(
                sample_idx=r['sample_idx'],
                img_path=r['img_path'],
                gt_label=r['label'],
                pred_label=int(p),
                pred_score=r['score'].tolist()) for r, p in zip(results, pred)
        ]
        doc = dict(
            metric=dict(type=type(self).__name__, topk=list(self.topk)),
            metrics={
                f'{self.prefix}/{k}': v
                for k, v in metrics.items()
            },
            num_samples=len(rows),
            samples=rows)
        path = osp.join(self.output_dir, PREDICTIONS_FILE)
        atomic_write(path, json.dumps(doc, indent=1))
        print_log(
            f'{len(rows)} predictions written to {path}', logger='current')
        return path
