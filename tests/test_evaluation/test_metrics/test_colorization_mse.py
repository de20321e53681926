import pickle

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from projects.prompthub.evaluation import ColorizationMSE
from projects.prompthub.registry import METRICS

STD = (0.229, 0.224, 0.225)


def make_sample(pred: np.ndarray, gt: np.ndarray) -> dict:
    sample = SegDataSample()
    sample.pred_label_img = PixelData(data=torch.from_numpy(pred))
    sample.gt_label_img = PixelData(data=torch.from_numpy(gt))
    return sample.to_dict()


def test_hand_computed():
    black = np.zeros((3, 4, 4), dtype=np.uint8)
    white = np.full((3, 4, 4), 255, dtype=np.uint8)
    one_px = black.copy()
    one_px[2, 3, 0] = 102  # channel 2 off by 0.4 / 0.225 at 1 of 48 px
    metric = ColorizationMSE()
    metric.process({}, [
        make_sample(black, white),
        make_sample(white, white),
        make_sample(one_px, black)
    ])
    per_image = [np.mean([1 / s**2 for s in STD]), 0.0, (0.4 / 0.225)**2 / 48]
    np.testing.assert_allclose(metric.results, per_image, rtol=1e-12)
    out = metric.evaluate(3)
    assert set(out) == {'vicl/mse'}
    assert out['vicl/mse'] == pytest.approx(np.mean(per_image), rel=1e-12)


def test_results_only_and_registry():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(4, 3, 5, 5), dtype=np.uint8)
    samples = [make_sample(imgs[i], imgs[3 - i]) for i in range(4)]
    a = METRICS.build(dict(type='ColorizationMSE'))
    a.process({}, samples[:2])
    b = ColorizationMSE()
    b.process({}, samples[2:])
    gathered = pickle.loads(pickle.dumps(a.results + b.results))
    whole = ColorizationMSE()
    whole.process({}, samples)
    assert ColorizationMSE().compute_metrics(gathered) == \
        whole.compute_metrics(whole.results)
    # Symmetric pairs (i, 3 - i) give equal per-image errors.
    assert whole.results[0] == pytest.approx(whole.results[3], rel=1e-12)


def test_invalid_args():
    with pytest.raises(ValueError):
        ColorizationMSE(mean=(0.5, 0.5), std=(0.5, 0.5, 0.5))
