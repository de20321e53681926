"""The VTAB-1k protocol and aggregator end to end, on a fake VTAB-1k tree
with a tiny ViT: the repository's per-task configs, shrunk by a leaf
config each, run through the tools in-process."""
import csv
import importlib.util
import io
import json
import os.path as osp

import numpy as np
import pytest
import torch

from projects.hgprompt.benchmark.aggregate import (summarize, to_csv,
                                                   to_markdown)
from projects.hgprompt.benchmark.protocol import run_once, select_best
from projects.hgprompt.datasets import make_fake_vtab1k
from projects.hgprompt.models import load_prompt, save_prompt

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'projects', 'hgprompt', 'tools')
TASKS = ('dtd', 'eurosat')
SIZES = dict(num_train=6, num_val=4, num_test=4)
#: A tiny ViT and 32x32 inputs in place of ViT-B/16 at 224, 2 epochs.
SHRINK = """
model = dict(backbone=dict(arch='vit_tiny_patch16_224', checkpoint=None,
    prompt_length=2, vit_kwargs=dict(img_size=32, patch_size=8,
    embed_dim=32, depth=2, num_heads=2)))
pipeline = [dict(type='HGLoadImage', size=32), dict(type='HGPackClsInputs')]
train_dataloader = dict(batch_size=4, num_workers=0,
    dataset=dict(pipeline=pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(pipeline=pipeline))
test_dataloader = dict(num_workers=0, dataset=dict(pipeline=pipeline))
train_cfg = dict(max_epochs=2, val_interval=2)
"""


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_configs(folder, method):
    """``<folder>/<method>_<task>.py``: the repository config, shrunk."""
    for task in TASKS:
        base = osp.join(REPO, 'configs', 'hgprompt',
                        f'{method}_vit-b16_vtab1k-{task}.py')
        with open(osp.join(folder, f'{method}_{task}.py'), 'w') as f:
            f.write(f'_base_ = [{base!r}]\n{SHRINK}')
    return osp.join(folder, method + '_{task}.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('vtab1k'))
    make_fake_vtab1k(root, TASKS, **SIZES)
    return root


def _protocol_json(work, task):
    with open(osp.join(work, task, 'protocol.json')) as f:
        return json.load(f)


def test_hgprompt_protocol_and_aggregator_end_to_end(tree, tmp_path):
    """Grid on val200, final runs on train800val200 scored on test, per
    seed; leave-one-out sources; then the markdown table and the CSV."""
    torch.set_num_threads(1)
    bank = tmp_path / 'prompts'
    gen = torch.Generator().manual_seed(0)
    for task in TASKS + ('svhn', ):  # every target keeps two sources
        save_prompt(
            str(bank / f'{task}.pth'),
            torch.randn(2, 2, 32, generator=gen),
            task=task,
            data_root=osp.join(tree, task))
    template = _tiny_configs(str(tmp_path), 'hgprompt')
    work = str(tmp_path / 'hgprompt')
    summaries = _tool('run_vtab_protocol').main([
        template, '--work-dir', work, '--data-root', tree, '--tasks', *TASKS,
        '--lrs', '0.01', '0.001', '--wds', '0', '--seeds', '3', '4',
        '--cfg-options', 'custom_hooks.1.switch_epoch=1',
        f'model.source_prompts={bank}', 'model.loss_h.bank_size=8'
    ])
    assert list(summaries) == list(TASKS)
    for task in TASKS:
        summary = _protocol_json(work, task)
        assert summary == summaries[task]
        assert summary['group'] == {'dtd': 'natural'}.get(task, 'specialized')
        # grid: 2 x 1 runs, first seed, train800 (6) -> val200 (4)
        assert [(r['lr'], r['wd'], r['seed'])
                for r in summary['grid']] == [(0.01, 0.0, 3), (0.001, 0.0, 3)]
        for run in summary['grid']:
            with open(
                    osp.join(work, task, 'grid', f"lr{run['lr']:g}_wd0",
                             'result.json')) as f:
                result = json.load(f)
            assert (result['num_train'], result['num_eval']) == (6, 4)
            assert result['eval_split'] == 'val200'
            assert result['lr_used'] == run['lr']  # AdamW: not scaled
        assert summary['best'] == select_best(summary['grid'])
        # final: the selected pair once per seed, train800val200 -> test
        assert [r['seed'] for r in summary['final']] == [3, 4]
        values = []
        for run in summary['final']:
            assert (run['lr'], run['wd']) == (summary['best']['lr'],
                                              summary['best']['wd'])
            run_dir = osp.join(work, task, 'final', f"seed{run['seed']}")
            with open(osp.join(run_dir, 'result.json')) as f:
                result = json.load(f)
            assert (result['num_train'], result['num_eval']) == (10, 4)
            assert result['eval_split'] == 'test'
            values.append(result['value'])
            # leave-one-out: the target's own prompt is not a source
            with open(osp.join(run_dir, 'ensemble_weights.json')) as f:
                sources = json.load(f)['sources']
            assert sources == sorted(set(TASKS + ('svhn', )) - {task})
        assert summary['mean'] == pytest.approx(np.mean(values))
        assert summary['std'] == pytest.approx(np.std(values, ddof=1))

    # a second call reuses every finished run
    again = _tool('run_vtab_protocol').main([
        template, '--work-dir', work, '--data-root', tree, '--tasks', *TASKS,
        '--lrs', '0.01', '0.001', '--wds', '0', '--seeds', '3', '4',
        '--cfg-options', 'custom_hooks.1.switch_epoch=1',
        f'model.source_prompts={bank}', 'model.loss_h.bank_size=8'
    ])
    assert again == summaries

    out = str(tmp_path / 'table')
    markdown = _tool('aggregate_vtab_results').main(
        [work, '--names', 'hgprompt', '--out', out])
    with open(out + '.md') as f:
        assert f.read() == markdown
    dtd, euro = summaries['dtd']['mean'], summaries['eurosat']['mean']
    assert (f"| natural | dtd | {dtd:.1f} ± {summaries['dtd']['std']:.1f} |"
            in markdown)
    assert f'| natural | **mean** | {dtd:.1f} (1/7) |' in markdown
    assert f'| specialized | **mean** | {euro:.1f} (1/4) |' in markdown
    assert '| structured | **mean** | - |' in markdown
    assert (f'| all | **mean of the tasks** | {(dtd + euro) / 2:.1f} (2/19) |'
            in markdown)
    with open(out + '.csv') as f:
        rows = list(csv.DictReader(f))
    by_task = {(r['group'], r['task']): r for r in rows}
    assert float(by_task['natural', 'dtd']['mean']) == pytest.approx(dtd)
    assert by_task['natural', 'dtd']['values'] == ';'.join(
        f"{r['value']:.4f}" for r in summaries['dtd']['final'])
    assert float(by_task['all',
                         'mean of the group means']['mean']) == pytest.approx(
                             (dtd + euro) / 2)


def test_vpt_protocol_scales_lr_and_exports_the_bank(tree, tmp_path):
    torch.set_num_threads(1)
    template = _tiny_configs(str(tmp_path), 'vpt-deep')
    work = str(tmp_path / 'vpt')
    summary = _tool('run_vtab_protocol').main([
        template, '--work-dir', work, '--data-root', tree, '--tasks',
        'eurosat', '--lrs', '2.0', '--wds', '0.001', '--seeds', '0'
    ])['eurosat']
    # VPT's grid is per 256 images: batch 4 -> lr * 4 / 256
    assert summary['best']['lr_used'] == pytest.approx(2.0 * 4 / 256)
    prompt, meta = load_prompt(osp.join(work, 'prompts', 'eurosat.pth'))
    assert prompt.shape == (2, 2, 32)
    assert meta['task'] == 'eurosat'
    assert meta['data_root'] == osp.realpath(osp.join(tree, 'eurosat'))
    run_prompt, _ = load_prompt(
        osp.join(work, 'eurosat', 'final', 'seed0', 'prompt.pth'))
    assert torch.equal(prompt, run_prompt)


def test_protocol_owns_its_keys(tree, tmp_path):
    template = _tiny_configs(str(tmp_path), 'vpt-deep')
    with pytest.raises(ValueError, match='--lrs/--wds/--seeds'):
        run_once(
            template.format(task='dtd'),
            'dtd',
            'grid',
            0.1,
            0.0,
            0,
            str(tmp_path),
            cfg_options={'optim_wrapper.optimizer.lr': 3.0})
    with pytest.raises(ValueError, match="task 'dtd', not 'eurosat'"):
        run_once(
            template.format(task='dtd'), 'eurosat', 'grid', 0.1, 0.0, 0,
            str(tmp_path))


def test_selection_prefers_small_lr_then_large_wd_on_ties():
    grid = [
        dict(lr=1.0, wd=0.0, value=50.0),
        dict(lr=0.1, wd=0.0, value=50.0),
        dict(lr=0.1, wd=0.01, value=50.0),
        dict(lr=5.0, wd=0.0, value=40.0),
    ]
    assert select_best(grid) == dict(lr=0.1, wd=0.01, value=50.0)
    assert select_best(grid + [dict(lr=9., wd=0., value=51.)])['lr'] == 9.


def _summary(task, values):
    return dict(
        task=task,
        metric='accuracy/top1',
        mean=float(np.mean(values)),
        std=float(np.std(values, ddof=1)),
        best=dict(lr=0.1, wd=0.0),
        final=[dict(value=v) for v in values])


def test_group_and_overall_means_by_hand():
    results = {
        'cifar': _summary('cifar', [60.0, 62.0]),
        'dtd': _summary('dtd', [40.0, 44.0]),
        'kitti': _summary('kitti', [80.0, 80.0]),
    }
    summary = summarize(results)
    assert summary['groups']['natural'] == (51.5, 2, 7)
    assert summary['groups']['specialized'] == (None, 0, 4)
    assert summary['groups']['structured'] == (80.0, 1, 8)
    assert summary['tasks_mean'] == (pytest.approx((61 + 42 + 80) / 3), 3, 19)
    assert summary['groups_mean'] == (pytest.approx((51.5 + 80) / 2), 2, 3)
    table = to_markdown(dict(m=results))
    assert '| natural | cifar | 61.0 ± 1.4 |' in table
    assert '| all | **mean of the group means** | 65.8 (2/3) |' in table
    rows = {
        (r['group'], r['task']): r
        for r in csv.DictReader(io.StringIO(to_csv(dict(m=results))))
    }
    assert rows['natural', 'mean']['mean'] == '51.5000'
    assert rows['natural', 'mean']['num_tasks'] == '2'
    assert ('specialized', 'mean') not in rows  # no task, no mean
    assert rows['structured', 'kitti']['values'] == '80.0000;80.0000'
