"""tools/test.py --show-dir and --out on an HGPrompt classification
config, as a user runs them, read back."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import cv2
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from projects.hgprompt.datasets import make_vtab_suite
from projects.prompthub.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'hgprompt',
                  'vpt-deep_vit-tiny-p8_vtab-synth-count6.py')
# Odd: two ranks get a padded sampler, whose padding must not count.
NUM_TEST = 7
KILLER = osp.join(REPO, 'tests', 'test_tools', 'kill_mid_write.py')
KILL_CODE = 17  # kill_mid_write.KILL_CODE


@pytest.fixture(scope='module')
def task_and_checkpoint(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('suite'))
    task = make_vtab_suite(
        root, ['count4'], num_train=2, num_val=2, num_test=NUM_TEST)['count4']
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG)
    cfg.model.backbone.checkpoint = None
    cfg.model.num_classes = 4
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'hg.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return task, path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _test(
    task: str,
    checkpoint: str,
    *args: str,
    killer: tuple = (),
    launch: tuple = ()
) -> subprocess.CompletedProcess:
    """tools/test.py (or ``launch``, e.g. tools/dist_test.sh) on ``task``
    with the random tiny model, batches of 2, every 2nd batch drawn."""
    launch = launch or (sys.executable, *killer, 'tools/test.py')
    env = dict(
        os.environ,
        PYTHONUNBUFFERED='1',
        OMP_NUM_THREADS='1',
        PYTHON=sys.executable,
        PORT=str(_free_port()))
    return subprocess.run([
        *launch, CONFIG, checkpoint, *args, '--cfg-options',
        f'test_dataloader.dataset.data_root={task}',
        'model.backbone.checkpoint=None', 'model.num_classes=4',
        'test_dataloader.batch_size=2',
        'default_hooks.visualization.interval=2'
    ],
                          cwd=REPO,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)


def test_show_dir_and_out_on_an_hgprompt_config(tmp_path, task_and_checkpoint):
    task, checkpoint = task_and_checkpoint
    work, out = str(tmp_path / 'work'), str(tmp_path / 'preds')
    proc = _test(task, checkpoint, '--work-dir', work, '--show-dir', 'drawn',
                 '--out', out)
    assert proc.returncode == 0, proc.stderr[-6000:]
    runs = sorted(d for d in os.listdir(work) if osp.isdir(osp.join(work, d)))
    run_dir = osp.join(work, runs[-1])
    with open(osp.join(run_dir, f'{runs[-1]}.json')) as f:
        logged = json.load(f)

    # --out: one row per test sample, in order, consistent with the log.
    assert os.listdir(out) == ['predictions.json']
    with open(osp.join(out, 'predictions.json')) as f:
        doc = json.load(f)
    rows = doc['samples']
    assert doc['num_samples'] == NUM_TEST == len(rows)
    assert [r['sample_idx'] for r in rows] == list(range(NUM_TEST))
    with open(osp.join(task, 'test.txt')) as f:
        lines = [line.split() for line in f if line.strip()]
    assert [r['img_path']
            for r in rows] == [osp.join(task, rel) for rel, _ in lines]
    assert [r['gt_label'] for r in rows] == [int(lab) for _, lab in lines]
    for r in rows:
        assert len(r['pred_score']) == 4
        assert sum(r['pred_score']) == pytest.approx(1.0, abs=1e-5)
        assert r['pred_label'] == max(
            range(4), key=r['pred_score'].__getitem__)
    hits = sum(r['pred_label'] == r['gt_label'] for r in rows)
    assert logged['accuracy/top1'] == pytest.approx(100 * hits / NUM_TEST)
    assert doc['metrics']['accuracy/top1'] == logged['accuracy/top1']

    # --show-dir: batches 0 and 2 of three (interval 2), one PNG a sample.
    drawn = osp.join(run_dir, 'drawn')
    assert sorted(os.listdir(drawn)) == [f'{i:05d}.png' for i in (0, 1, 4, 5)]
    for name in os.listdir(drawn):
        img = cv2.imread(osp.join(drawn, name))
        assert img is not None and img.shape == (256, 256, 3)
        assert img.std() > 0


def test_killed_while_writing_predictions_keeps_the_old_file(
        tmp_path, task_and_checkpoint):
    task, checkpoint = task_and_checkpoint
    out = tmp_path / 'preds'
    out.mkdir()
    (out / 'predictions.json').write_text('{"from": "an earlier run"}')
    proc = _test(
        task,
        checkpoint,
        '--work-dir',
        str(tmp_path / 'work'),
        '--out',
        str(out),
        killer=(KILLER, r'predictions\.json', '1'))
    assert proc.returncode == KILL_CODE, proc.stderr[-4000:]
    assert 'KILLED mid-write of .predictions.json.' in proc.stdout
    # The earlier file is whole: the torn write never took its name.
    with open(out / 'predictions.json') as f:
        assert json.load(f) == {'from': 'an earlier run'}


def test_two_processes_write_the_same_predictions(tmp_path,
                                                  task_and_checkpoint):
    """Rank 0 writes the rows of all ranks, padding dropped, in order."""
    task, checkpoint = task_and_checkpoint
    docs = []
    for name, launch in [('single', None),
                         ('dist', ('bash', 'tools/dist_test.sh'))]:
        out = tmp_path / name
        args = ('2', ) if launch else ()
        proc = _test(
            task,
            checkpoint,
            *args,
            '--work-dir',
            str(tmp_path / f'work_{name}'),
            '--out',
            str(out),
            launch=launch)
        assert proc.returncode == 0, proc.stderr[-6000:]
        log = proc.stdout + proc.stderr
        assert f'Distributed training: {bool(launch)}' in log
        with open(out / 'predictions.json') as f:
            docs.append(json.load(f))
    single, dist = docs
    assert dist['num_samples'] == NUM_TEST
    assert dist['metrics'] == single['metrics']
    for key in ('sample_idx', 'img_path', 'gt_label', 'pred_label'):
        assert [r[key] for r in dist['samples']
                ] == [r[key] for r in single['samples']], key
    for a, b in zip(single['samples'], dist['samples']):
        assert b['pred_score'] == pytest.approx(a['pred_score'], abs=1e-6)
