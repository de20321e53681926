"""tools/test.py --show-dir and --out on the tiny config, as a user runs
them, and a run killed while writing a prediction."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from projects.prompthub.evaluation.prediction_io import sample_stem
from projects.prompthub.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub',
                       'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
KILLER = osp.join(REPO, 'tests', 'test_tools', 'kill_mid_write.py')
KILL_CODE = 17  # kill_mid_write.KILL_CODE


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _test(*args: str, killer: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *killer, 'tools/test.py', TINY_CONFIG, *args],
        cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED='1'),
        capture_output=True,
        text=True,
        timeout=600)


def _queries() -> list:
    """(stem, ori_shape) of the tiny config's test queries, in order."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(TINY_CONFIG)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    return [(sample_stem(s), tuple(s.ori_shape)) for s in samples]


def _logged_metrics(work_dir: str) -> dict:
    runs = sorted(
        d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)))
    with open(osp.join(work_dir, runs[-1], f'{runs[-1]}.json')) as f:
        return json.load(f), osp.join(work_dir, runs[-1])


def test_show_dir_and_out_write_what_they_promise(tmp_path, checkpoint):
    work, out = str(tmp_path / 'work'), str(tmp_path / 'preds')
    proc = _test(checkpoint, '--work-dir', work, '--show-dir', 'grids',
                 '--out', out)
    assert proc.returncode == 0, proc.stderr[-6000:]
    logged, run_dir = _logged_metrics(work)
    # mmseg's IoUMetric logs under its prefix, never a bare mIoU.
    assert {'vicl/mIoU', 'mmseg/mIoU', 'mmseg/aAcc'} <= set(logged)
    assert not {'mIoU', 'aAcc', 'mAcc'} & set(logged)

    queries = _queries()
    names = sorted(os.listdir(out))
    assert names == sorted([f'{s}.png' for s, _ in queries] + ['scores.json'])
    with open(osp.join(out, 'scores.json')) as f:
        scores = json.load(f)
    rows = scores['images']
    assert [r['name'] for r in rows] == [s for s, _ in queries]
    for row, (stem, shape) in zip(rows, queries):
        mask = cv2.imread(osp.join(out, row['file']), cv2.IMREAD_UNCHANGED)
        assert mask.shape == shape  # the query's original size
        assert set(np.unique(mask)) <= {0, 255}
        # Synthetic queries are drawn at the cell size, so the written
        # mask is the scored one pixel for pixel.
        assert (mask == 255).sum() == row['pred_area']
        assert row['iou'] == pytest.approx(row['intersection'] / row['union'])
    ious = [r['iou'] for r in rows]
    assert np.mean(ious) * 100 == pytest.approx(logged['vicl/mIoU'], abs=1e-9)
    assert scores['metrics']['vicl/mIoU'] == pytest.approx(
        logged['vicl/mIoU'], abs=1e-9)

    # --show-dir: the grids of the first batch (interval 50 draws batch 0)
    # under {work_dir}/{timestamp}/grids.
    grids = sorted(os.listdir(osp.join(run_dir, 'grids')))
    batch = Config.fromfile(TINY_CONFIG).test_dataloader.batch_size
    assert grids == sorted(f'{s}.png' for s, _ in queries[:batch])
    grid = cv2.imread(osp.join(run_dir, 'grids', grids[0]))
    # 2 prompts, fused, pred, gt columns; image and label rows.
    assert grid.shape == (14 + 2 * 113 + 2, 5 * 113 + 2, 3)
    assert f'episode grids written to {osp.join(run_dir, "grids")}' in (
        proc.stdout + proc.stderr)


def test_killed_while_writing_a_prediction_leaves_no_torn_file(
        tmp_path, checkpoint):
    out = tmp_path / 'preds'
    queries = _queries()
    third = queries[2][0]
    proc = _test(
        checkpoint,
        '--work-dir',
        str(tmp_path / 'work'),
        '--out',
        str(out),
        killer=(KILLER, f'{third}\\.png', '1'))
    assert proc.returncode == KILL_CODE, proc.stderr[-4000:]
    assert f'KILLED mid-write of .{third}.png.' in proc.stdout
    visible = sorted(p.name for p in out.iterdir()
                     if not p.name.startswith('.'))
    # The two masks written before are whole; the torn one and the
    # scores never appear under their names.
    assert visible == sorted(f'{s}.png' for s, _ in queries[:2])
    for name in visible:
        assert cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED) is not None
