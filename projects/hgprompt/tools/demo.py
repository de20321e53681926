"""HGPrompt CPU demo on the generated VTAB-like suite; prints the table.

Steps (all with this repository's configs and tools):

1. write the suite (NOAH VTAB-1k layout) with the local generator;
2. pretrain a tiny timm ViT on the generated upstream task
   (``tools/train.py``), keep its weights as the frozen backbone;
3. train one VPT-deep prompt per source task (``tools/train.py``; one
   source is related to the target, one has random labels);
4. on the held-out target (count6, 200 labels) run, for every seed,
   HGPrompt, HGPrompt without the alignment term, HGPrompt with PCGrad
   over per-source losses instead of it, the uniform-average init, the
   best single source by H-score (SPoT-style) and VPT from scratch, with
   the same stage-B budget (``--methods`` adds ``hgprompt_cos`` or
   ``hgprompt_uniform_start``);
5. print and save (``results.md`` / ``results.json``) the table.

Usage::

    python projects/hgprompt/tools/demo.py [--work-dir work_dirs/hgprompt_demo]
        [--seeds 0 1 2 3 4] [--threads N] [--methods ...]
"""
import argparse
import json
import os
import os.path as osp
import resource
import shutil
import subprocess
import sys
import time

# The repository root: projects/hgprompt/tools/ is three levels down.
ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..'))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import projects.hgprompt  # noqa: E402,F401
from projects.hgprompt.datasets import make_vtab_suite  # noqa
from projects.hgprompt.models import h_score  # noqa: E402
from projects.hgprompt.registry import DATASETS, MODELS  # noqa: E402
from projects.prompthub.utils import load_config  # noqa: E402

CFG = osp.join(ROOT, 'configs', 'hgprompt')
SOURCES = ('count4', 'count4_randlabel', 'stripe_ori', 'loc_x', 'bar_ori',
           'size_bin')
RELATED, RANDOM = 'count4', 'count4_randlabel'
TARGET = 'count6'
METHOD_CFGS = {
    'hgprompt': 'hgprompt_vit-tiny-p8_vtab-synth-count6.py',
    'hgprompt_no_gar': 'hgprompt-honly_vit-tiny-p8_vtab-synth-count6.py',
    'hgprompt_uniform_start':
    'hgprompt-uniform-start_vit-tiny-p8_vtab-synth-count6.py',
    'hgprompt_cos': 'hgprompt-cos_vit-tiny-p8_vtab-synth-count6.py',
    'hgprompt_pcgrad': 'hgprompt-pcgrad_vit-tiny-p8_vtab-synth-count6.py',
    'uniform': 'uniform-init_vit-tiny-p8_vtab-synth-count6.py',
    'best_single_H': 'single-source-init_vit-tiny-p8_vtab-synth-count6.py',
    'scratch': 'vpt-deep_vit-tiny-p8_vtab-synth-count6.py',
}
DEFAULT_METHODS = ('hgprompt', 'hgprompt_no_gar', 'hgprompt_pcgrad', 'uniform',
                   'best_single_H', 'scratch')


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description='HGPrompt CPU demo')
    parser.add_argument('--work-dir', default='work_dirs/hgprompt_demo')
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument(
        '--methods',
        nargs='+',
        default=list(DEFAULT_METHODS),
        choices=sorted(METHOD_CFGS))
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads (default: torch default)')
    parser.add_argument(
        '--reuse',
        action='store_true',
        help='reuse the suite, backbone and source prompts if present')
    return parser.parse_args()


def data_opts(prefix: str, root: str) -> list:
    """``--cfg-options`` that point every dataloader at ``root``."""
    return [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def run_train(config: str, work_dir: str, options: list, env: dict) -> None:
    """Run ``tools/train.py`` in a subprocess (log in the work dir)."""
    os.makedirs(work_dir, exist_ok=True)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), config, '--work-dir', work_dir,
        '--cfg-options'
    ] + options
    with open(osp.join(work_dir, 'stdout.log'), 'w') as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed, see {work_dir}')


def last_val_top1(work_dir: str) -> float:
    """Read the last ``accuracy/top1`` from the run's scalars.json."""
    found = None
    for dirpath, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(dirpath, 'scalars.json')) as f:
                for line in f:
                    rec = json.loads(line)
                    if 'accuracy/top1' in rec:
                        found = rec['accuracy/top1']
    return found


def build_target_cfg(method: str, seed: int, args, paths: dict) -> Config:
    """The target config of one method and seed."""
    cfg = load_config(osp.join(CFG, METHOD_CFGS[method]))
    root = osp.join(paths['suite'], TARGET)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.train_dataloader.dataset.subset_seed = seed
    cfg.model.backbone.checkpoint = paths['backbone']
    if cfg.model.get('source_prompts') is not None:
        cfg.model.source_prompts = paths['prompts']
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = osp.join(args.work_dir, 'target', f'seed{seed}', method)
    cfg.train_cfg.val_interval = 10**6  # test once at the end
    cfg.default_hooks.logger.interval = 100
    cfg.log_level = 'ERROR'
    return cfg


@torch.no_grad()
def rank_sources_by_hscore(seed: int, paths: dict) -> dict:
    """Shrinkage H-score of each source prompt's features on the target
    training subset (SPoT-style source selection)."""
    cfg = load_config(osp.join(CFG, METHOD_CFGS['uniform']))
    cfg.model.backbone.checkpoint = paths['backbone']
    cfg.model.source_prompts = paths['prompts']
    model = MODELS.build(cfg.model).eval()
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = osp.join(paths['suite'], TARGET)
    ds_cfg.subset_seed = seed
    dataset = DATASETS.build(ds_cfg)
    batch = [dataset[i] for i in range(len(dataset))]
    data = model.data_preprocessor(
        dict(
            inputs=[b['inputs'] for b in batch],
            data_samples=[b['data_samples'] for b in batch]))
    labels = torch.stack([s.gt_label for s in data['data_samples']])
    feats = model.source_features(data['inputs'])
    loss = cfg.model.get('loss_h', {})
    return {
        name:
        float(
            h_score(
                f,
                labels,
                'shrinkage',
                loss.get('alpha', 0.5),
                standardize=True))
        for name, f in zip(model.source_names, feats)
    }


def fmt(values) -> str:
    """``mean +- std`` in percent."""
    arr = np.asarray(values, dtype=float)
    return f'{arr.mean():.1f} ± {arr.std(ddof=1) if len(arr) > 1 else 0:.1f}'


def main() -> None:
    """Run the demo."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.time()
    env = dict(os.environ)
    if args.threads:
        env['OMP_NUM_THREADS'] = str(args.threads)
    work = osp.abspath(args.work_dir)
    paths = dict(
        suite=osp.join(work, 'vtab_suite'),
        backbone=osp.join(work, 'backbone', 'vit_tiny_upstream.pth'),
        prompts=osp.join(work, 'prompts'))
    timings = {}

    # 1. the generated suite
    t = time.time()
    if not (args.reuse and osp.isdir(osp.join(paths['suite'], TARGET))):
        make_vtab_suite(paths['suite'], list(SOURCES) + [TARGET])
        make_vtab_suite(
            paths['suite'], ['upstream'],
            num_train=4000,
            num_val=200,
            num_test=500)
    timings['suite'] = time.time() - t

    # 2. the frozen backbone
    t = time.time()
    if not (args.reuse and osp.isfile(paths['backbone'])):
        run_dir = osp.join(work, 'backbone_run')
        shutil.rmtree(run_dir, ignore_errors=True)
        run_train(
            osp.join(CFG, 'vit-tiny-p8_upstream-pretrain_vtab-synth.py'),
            run_dir, data_opts('', osp.join(paths['suite'], 'upstream')), env)
        ckpt = torch.load(
            osp.join(run_dir, 'epoch_12.pth'),
            map_location='cpu',
            weights_only=False)
        state = {
            k[len('backbone.vit.'):]: v
            for k, v in ckpt['state_dict'].items()
            if k.startswith('backbone.vit.')
        }
        os.makedirs(osp.dirname(paths['backbone']), exist_ok=True)
        torch.save(state, paths['backbone'])
    timings['backbone'] = time.time() - t
    upstream_acc = last_val_top1(osp.join(work, 'backbone_run'))

    # 3. source prompts with tools/train.py
    t = time.time()
    source_acc = {}
    for task in SOURCES:
        out = osp.join(paths['prompts'], f'{task}.pth')
        run_dir = osp.join(work, 'sources', task)
        if not (args.reuse and osp.isfile(out)):
            shutil.rmtree(run_dir, ignore_errors=True)
            run_train(
                osp.join(CFG, 'vpt-deep_vit-tiny-p8_vtab-synth-source.py'),
                run_dir,
                data_opts('', osp.join(paths['suite'], task)) + [
                    'model.num_classes=4',
                    f'model.backbone.checkpoint={paths["backbone"]}',
                    f'custom_hooks.1.task={task}',
                    f'custom_hooks.1.out_file={out}'
                ], env)
        source_acc[task] = last_val_top1(run_dir)
    timings['sources'] = time.time() - t

    # 4. target runs
    t = time.time()
    acc = {m: [] for m in args.methods}
    weights_by = {m: [] for m in args.methods if m.startswith('hgprompt')}
    picks, hscores = [], []
    for seed in args.seeds:
        if 'best_single_H' in args.methods:
            scores = rank_sources_by_hscore(seed, paths)
            hscores.append(scores)
            picks.append(max(scores, key=scores.get))
        for method in args.methods:
            cfg = build_target_cfg(method, seed, args, paths)
            if method == 'best_single_H':
                cfg.model.source_name = picks[-1]
            runner = Runner.from_cfg(cfg)
            runner.train()
            metrics = runner.test()
            acc[method].append(metrics['accuracy/top1'])
            if method in weights_by:
                with open(osp.join(cfg.work_dir,
                                   'ensemble_weights.json')) as f:
                    weights_by[method].append(json.load(f))
            print(
                f'seed {seed} {method}: {metrics["accuracy/top1"]:.1f}',
                flush=True)
    timings['targets'] = time.time() - t
    timings['total'] = time.time() - start
    cpu = sum(
        resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))

    # 5. report
    num_src = len(SOURCES)
    lines = [
        f'Target {TARGET} (6 classes, 200 labels, test 1000), K = {num_src} '
        f'sources, seeds {args.seeds}; top-1 % mean ± std over seeds.', '',
        '| method | top-1 (mean ± std) | per seed |', '|---|---|---|'
    ]
    for method in args.methods:
        per = ', '.join(f'{v:.1f}' for v in acc[method])
        lines.append(f'| {method} | {fmt(acc[method])} | {per} |')
    summary = {}
    lines.append('')
    for method, weights in weights_by.items():
        tops = [max(zip(w['weights'], w['sources']))[1] for w in weights]
        w_rel = [w['weights'][w['sources'].index(RELATED)] for w in weights]
        w_rnd = [w['weights'][w['sources'].index(RANDOM)] for w in weights]
        summary[method] = dict(
            related_top=sum(t == RELATED for t in tops),
            random_below_1_over_k=sum(v < 1 / num_src for v in w_rnd))
        lines += [
            f'Learned w ({method}): top source per seed {tops}; '
            f'w[{RELATED}] = ' + ', '.join(f'{v:.3f}' for v in w_rel) +
            f'; w[{RANDOM}] = ' + ', '.join(f'{v:.3f}' for v in w_rnd) +
            f' (1/K = {1 / num_src:.3f}); related source on top in '
            f'{summary[method]["related_top"]}/{len(tops)} seeds, '
            'random-label source below 1/K in '
            f'{summary[method]["random_below_1_over_k"]}/{len(tops)}.'
        ]
    if 'hgprompt' in weights_by and 'hgprompt_no_gar' in weights_by:
        gaps = [
            max(abs(a - b)
                for a, b in zip(x['weights'], y['weights'])) for x, y in zip(
                    weights_by['hgprompt'], weights_by['hgprompt_no_gar'])
        ]
        lines.append('Largest |w(hgprompt) - w(hgprompt_no_gar)| per seed: ' +
                     ', '.join(f'{g:.4f}' for g in gaps) + '.')
    if picks:
        lines.append(f'Best single source by H-score per seed: {picks}.')
    for ref in ('uniform', 'scratch', 'best_single_H'):
        if 'hgprompt' in acc and ref in acc:
            diff = np.mean(acc['hgprompt']) - np.mean(acc[ref])
            lines.append(f'hgprompt - {ref}: {diff:+.1f} points '
                         f'(mean over seeds).')
    lines.append('Source prompts, test top-1 on their own task: ' +
                 ', '.join(f'{k} {v:.1f}'
                           for k, v in source_acc.items() if v is not None) +
                 (f'; upstream backbone {upstream_acc:.1f}.'
                  if upstream_acc is not None else '.'))
    lines.append('Wall time (s): ' + ', '.join(f'{k} {v:.0f}'
                                               for k, v in timings.items()) +
                 f'; CPU time (user + sys, all processes) {cpu:.0f} s.')
    text = '\n'.join(lines)
    print(text)
    with open(osp.join(work, 'results.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(
            dict(
                accuracy=acc,
                weights=weights_by,
                picks=picks,
                hscores=hscores,
                source_acc=source_acc,
                summary=summary,
                timings=timings,
                cpu_s=cpu),
            f,
            indent=1)


if __name__ == '__main__':
    main()
