"""Dump the outputs the reference decides, to prove a refactor changes none.

Two code versions of the repository (e.g. before and after a move) are each
run through the same cases with fixed seeds, and the dumps are compared
key by key:

* ``tiny`` and ``demo``: a config is built by its Runner (model, optimizer
  wrapper, parameter schedulers, dataloaders, evaluator), trained for a few
  steps of ``model.train_step`` on one fixed batch of its own train
  dataloader (every loss key, the learning rate and every trainable
  parameter's gradient norm per step), then run on the first samples of
  its test dataloader: the logits of ``mode='tensor'``, every pixel field
  of the ``predict`` outputs and the metric values of its test evaluator.
* ``full``: the full-size model config (MAE ViT-L/16 + VQGAN) with random
  weights, on two samples of the tiny config's synthetic test data: the
  training losses and gradient norms of one backward pass, the logits, the
  predictions and the metrics. Its weights come from ``--full-state-dict``
  (written by the first run, loaded by the next) so that both versions run
  the very same network; their SHA-256 is dumped too.

Everything is reached through configs and registries, never through a
Python name of the repository, so the script runs unchanged on versions
whose modules or arguments were renamed. Dump each version from its own
root, running this file from anywhere (the run changes into ``--repo``;
``PYTHONPATH`` keeps other checkouts from being imported)::

    SCRIPT=$PWD/tools/misc/check_output_equivalence.py
    cd REPO_A && PYTHONPATH=$PWD python $SCRIPT --repo $PWD \\
        --full-state-dict /tmp/full.pth --out /tmp/a.npz
    cd REPO_B && PYTHONPATH=$PWD python $SCRIPT --repo $PWD \\
        --full-state-dict /tmp/full.pth --out /tmp/b.npz
    python $SCRIPT --compare /tmp/a.npz /tmp/b.npz

Config paths default to the current layout; give ``--tiny-config``,
``--demo-config`` and ``--full-model-config`` for a version that names
them otherwise.

``--compare`` prints the largest absolute difference of every key and exits
with status 1 unless every key is bit-equal (see :data:`TOLERANCES`).
"""
import argparse
import copy
import fnmatch
import hashlib
import itertools
import os
import os.path as osp
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

#: Allowed max abs difference per key pattern (fnmatch). Empty: both dumps
#: of one machine must be bit-equal; add an entry only for a key whose
#: computation is known to vary between runs.
TOLERANCES: Dict[str, float] = {}

Arrays = Dict[str, np.ndarray]


def parse_args() -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Dump the losses, gradients, logits, predictions and '
        'metrics of a repository version, or compare two dumps.')
    parser.add_argument(
        '--compare',
        nargs=2,
        metavar=('A', 'B'),
        help='compare two dumps instead of writing one')
    parser.add_argument(
        '--repo',
        default='.',
        help='root of the repository version to run; it goes first on '
        'sys.path and becomes the working directory')
    parser.add_argument('--out', help='the .npz file to write')
    parser.add_argument(
        '--tiny-config',
        default=('configs/prompthub/'
                 'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py'),
        help='tiny random-weight PromptHub config (relative to --repo); '
        'its synthetic test data also feeds the full-size case')
    parser.add_argument(
        '--demo-config',
        default=('configs/prompthub/prompthub-n4_tiny-vicl_1xb16-adamw-'
                 '200iter_lookalike-fold0.py'),
        help='CPU demo config (committed tiny backbone weights)')
    parser.add_argument(
        '--full-model-config',
        default='configs/_base_/models/prompthub_mae-vqgan-l16.py',
        help='config whose `model` is the full-size PromptHub')
    parser.add_argument(
        '--full-state-dict',
        help='weights of the full-size model: loaded when the file exists, '
        'else the seeded random init is saved there (1.7 GB), so that '
        'every later run uses the same network; without it the weights '
        'come from the seed alone (the dumped SHA-256 tells whether two '
        'versions built the same)')
    parser.add_argument(
        '--cases',
        nargs='+',
        choices=['tiny', 'demo', 'full'],
        default=['tiny', 'demo', 'full'],
        help='cases to run (all three take about 40 s on 2 CPU cores)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--train-steps',
        type=int,
        default=3,
        help='train steps of the tiny and demo cases')
    parser.add_argument(
        '--eval-batches',
        type=int,
        default=2,
        help='test batches of the tiny and demo cases')
    parser.add_argument(
        '--eval-batch-size',
        type=int,
        default=4,
        help='test batch size of the tiny and demo cases')
    parser.add_argument(
        '--full-batch-size',
        type=int,
        default=2,
        help='samples of the full-size case')
    args = parser.parse_args()
    if args.compare is None and args.out is None:
        parser.error('give --out FILE.npz to dump, or --compare A B')
    return args


# -- conversion --------------------------------------------------------------
def flatten(prefix: str, value, out: Arrays) -> None:
    """Store ``value`` (tensors, numbers, strings, dicts and lists of them)
    in ``out`` under ``prefix``, one array per leaf."""
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(f'{prefix}/{key}', item, out)
    elif isinstance(value, (list, tuple)) and any(
            isinstance(item, (dict, list, tuple, torch.Tensor))
            for item in value):
        for i, item in enumerate(value):
            flatten(f'{prefix}/{i}', item, out)
    elif isinstance(value, torch.Tensor):
        out[prefix] = value.detach().cpu().numpy()
    else:
        out[prefix] = np.asarray(value)


def state_dict_digest(module: torch.nn.Module) -> np.ndarray:
    """SHA-256 of a module's state dict (sorted keys, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(f'{name}{array.dtype}{array.shape}'.encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


def pixel_fields(samples: list) -> Arrays:
    """Every ``PixelData`` field of the predicted samples, stacked."""
    from mmengine.structures import PixelData
    fields: Dict[str, List[np.ndarray]] = {}
    for sample in samples:
        for key in sorted(sample.keys()):
            value = sample.get(key)
            if isinstance(value, PixelData):
                fields.setdefault(key, []).append(value.data.cpu().numpy())
    return {key: np.stack(values) for key, values in fields.items()}


# -- shared steps ------------------------------------------------------------
def trainable(model: torch.nn.Module) -> List[Tuple[str, torch.nn.Parameter]]:
    """The parameters that receive gradients, in registration order."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


class GradNormRecorder:
    """Record each trainable parameter's gradient norm at every backward.

    The norms are taken when the gradient is accumulated, i.e. before
    gradient clipping and before the optimizer wrapper zeroes it.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = trainable(model)
        if not self.params:
            raise ValueError(f'{type(model).__name__} has no trainable '
                             'parameter; nothing to train')
        self.norms: Dict[str, torch.Tensor] = {}
        self.handles = [
            param.register_post_accumulate_grad_hook(
                lambda p, name=name: self.norms.__setitem__(
                    name,
                    p.grad.detach().norm())) for name, param in self.params
        ]

    def pop(self) -> np.ndarray:
        """Norms of the last backward, in :meth:`names` order."""
        missing = [n for n, _ in self.params if n not in self.norms]
        if missing:
            raise RuntimeError(f'no gradient reached {missing}')
        norms = np.stack([self.norms[n].numpy() for n, _ in self.params])
        self.norms = {}
        return norms

    def names(self) -> np.ndarray:
        """Parameter names, so that a renamed parameter shows up."""
        return np.array([name for name, _ in self.params])

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self.handles:
            handle.remove()


def evaluate(model: torch.nn.Module, batches: List[dict], evaluator_cfg,
             dataset_meta: dict, prefix: str, out: Arrays) -> None:
    """Logits, predictions and metrics of the model in eval mode."""
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(copy.deepcopy(evaluator_cfg))
    evaluator.dataset_meta = dataset_meta
    model.eval()
    logits, predictions, num_samples = [], [], 0
    with torch.no_grad():
        for batch in batches:
            data = model.data_preprocessor(batch, False)
            logits.append(model(**data, mode='tensor'))
            samples = model.test_step(batch)
            predictions.append(pixel_fields(samples))
            evaluator.process(data_samples=samples, data_batch=batch)
            num_samples += len(samples)
    out[f'{prefix}/logits'] = torch.cat(logits).numpy()
    for key in predictions[0]:
        out[f'{prefix}/predict/{key}'] = np.concatenate(
            [fields[key] for fields in predictions])
    flatten(f'{prefix}/metrics', evaluator.evaluate(num_samples), out)


def dump_inputs(model: torch.nn.Module, batches: List[dict], prefix: str,
                out: Arrays) -> None:
    """The preprocessed inputs, so a data change is told from a model
    change."""
    for i, batch in enumerate(batches):
        flatten(f'{prefix}/{i}',
                model.data_preprocessor(batch, False)['inputs'], out)


# -- cases -------------------------------------------------------------------
def run_config_case(config: str, prefix: str, args: argparse.Namespace,
                    out: Arrays) -> None:
    """Train a Runner-built config a few steps on a fixed batch, then
    evaluate it on the first test samples."""
    from mmengine.config import Config
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner, set_random_seed

    cfg = Config.fromfile(config)
    try:  # '${name}' values; a version from before them has none
        from projects.prompthub.utils import resolve_config_references
    except ImportError:
        pass
    else:
        resolve_config_references(cfg)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        cfg.log_level = 'WARNING'
        if cfg.get('visualizer'):
            # A visualizer is a per-name singleton: the second case's would
            # otherwise write into the first case's deleted work dir.
            cfg.visualizer['name'] = f'{prefix}_visualizer'
        runner = (
            Runner.from_cfg(cfg)
            if 'runner_type' not in cfg else RUNNERS.build(cfg))
        model = runner.model
        # What Runner.train() sets up before its first iteration.
        runner.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
        schedulers = runner.build_param_scheduler(
            cfg.param_scheduler) if cfg.get('param_scheduler') else []
        model.init_weights()
        out[f'{prefix}/init_sha256'] = state_dict_digest(model)

        train_loader = runner.build_dataloader(
            cfg.train_dataloader, seed=args.seed)
        batch = next(iter(train_loader))
        dump_inputs(model, [batch], f'{prefix}/train_inputs', out)
        recorder = GradNormRecorder(model)
        out[f'{prefix}/grad_norm_names'] = recorder.names()
        set_random_seed(args.seed)
        model.train()
        for step in range(args.train_steps):
            key = f'{prefix}/train_step{step}'
            flatten(f'{key}/lr', runner.optim_wrapper.get_lr(), out)
            log_vars = model.train_step(batch, runner.optim_wrapper)
            flatten(f'{key}/losses', dict(log_vars), out)
            out[f'{key}/grad_norms'] = recorder.pop()
            # The ParamSchedulerHook's step after every iteration.
            for scheduler in schedulers:
                if not scheduler.by_epoch:
                    scheduler.step()
        recorder.remove()
        out[f'{prefix}/trained_sha256'] = state_dict_digest(model)

        test_cfg = copy.deepcopy(cfg.test_dataloader)
        test_cfg['batch_size'] = args.eval_batch_size
        test_loader = runner.build_dataloader(test_cfg, seed=args.seed)
        batches = list(itertools.islice(test_loader, args.eval_batches))
        dump_inputs(model, batches, f'{prefix}/test_inputs', out)
        set_random_seed(args.seed)
        evaluate(model, batches, cfg.test_evaluator,
                 test_loader.dataset.metainfo, f'{prefix}/test', out)


def build_full_model(config: str, state_dict_file: Optional[str],
                     seed: int) -> torch.nn.Module:
    """The full-size model with seeded random weights, or the weights of
    ``state_dict_file`` when it exists (saved there otherwise)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS
    from mmengine.runner import set_random_seed

    set_random_seed(seed)
    model = MODELS.build(Config.fromfile(config).model)
    if state_dict_file and osp.exists(state_dict_file):
        state = torch.load(
            state_dict_file, map_location='cpu', weights_only=True)
        model.load_state_dict(state, strict=True)
        print(f'full: loaded weights from {state_dict_file}')
    elif state_dict_file:
        torch.save(model.state_dict(), state_dict_file)
        print(f'full: saved the seeded random weights to {state_dict_file}')
    return model


def run_full_case(args: argparse.Namespace, out: Arrays) -> None:
    """Losses, gradient norms, logits, predictions and metrics of the
    full-size random-weight model on a few synthetic samples."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, set_random_seed

    # The full-size model config is a bare `model`; the scope and the
    # imports that register its components come from the tiny config.
    tiny = Config.fromfile(args.tiny_config)
    init_default_scope(tiny.get('default_scope', 'mmseg'))
    model = build_full_model(args.full_model_config, args.full_state_dict,
                             args.seed)
    out['full/init_sha256'] = state_dict_digest(model)

    data_cfg = copy.deepcopy(tiny.test_dataloader)
    data_cfg['batch_size'] = args.full_batch_size
    loader = Runner.build_dataloader(data_cfg, seed=args.seed)
    batch = next(iter(loader))
    dump_inputs(model, [batch], 'full/inputs', out)

    recorder = GradNormRecorder(model)
    out['full/grad_norm_names'] = recorder.names()
    set_random_seed(args.seed)
    model.train()
    data = model.data_preprocessor(batch, True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    flatten('full/train/losses', dict(log_vars), out)
    out['full/train/grad_norms'] = recorder.pop()
    recorder.remove()
    model.zero_grad()

    set_random_seed(args.seed)
    evaluate(model, [batch], tiny.test_evaluator, loader.dataset.metainfo,
             'full/test', out)


def check_imported_from(repo: str, config: str) -> None:
    """Raise unless the modules of the config's ``custom_imports`` were
    imported from ``repo`` (another checkout on sys.path would make the
    dump describe the wrong version)."""
    from mmengine.config import Config
    names = Config.fromfile(config).get('custom_imports',
                                        {}).get('imports', [])
    for name in names:
        path = osp.abspath(getattr(sys.modules.get(name), '__file__', ''))
        if not path.startswith(repo + os.sep):
            raise RuntimeError(
                f'{name} was imported from {path}, not from --repo {repo}; '
                f'run with PYTHONPATH={repo} from {repo}.')
        print(f'{name}: {path}')


def dump(args: argparse.Namespace) -> None:
    """Run the cases on the repository at ``--repo`` and write ``--out``."""
    out_file = osp.abspath(args.out)
    state_dict_file = args.full_state_dict and osp.abspath(
        args.full_state_dict)
    repo = osp.abspath(args.repo)
    sys.path.insert(0, repo)
    os.chdir(repo)  # the configs' relative paths (checkpoints) resolve here
    args.full_state_dict = state_dict_file
    outputs: Arrays = {}
    if 'tiny' in args.cases:
        run_config_case(args.tiny_config, 'tiny', args, outputs)
    if 'demo' in args.cases:
        run_config_case(args.demo_config, 'demo', args, outputs)
    if 'full' in args.cases:
        run_full_case(args, outputs)
    check_imported_from(repo, args.tiny_config)
    np.savez_compressed(out_file, **outputs)
    print(f'{len(outputs)} arrays from {repo} written to {out_file}')


# -- comparison --------------------------------------------------------------
def tolerance(key: str) -> float:
    """Allowed max abs difference of ``key`` (0: bit-equal)."""
    for pattern, value in TOLERANCES.items():
        if fnmatch.fnmatch(key, pattern):
            return value
    return 0.0


def compare_arrays(a: np.ndarray, b: np.ndarray, key: str) -> Tuple[str, bool]:
    """``(max abs difference as text, whether it is acceptable)``."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return (f'{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}', False)
    if a.tobytes() == b.tobytes():
        return '0 (bit-equal)', True
    if not np.issubdtype(a.dtype, np.number) or key.endswith('_sha256'):
        return 'differs', False
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    worst = float(np.nanmax(diff)) if diff.size else 0.0
    nan_mismatch = bool((np.isnan(a) != np.isnan(b)).any()) if np.issubdtype(
        a.dtype, np.floating) else False
    allowed = tolerance(key)
    ok = not nan_mismatch and worst <= allowed and allowed > 0
    text = f'{worst:.3g}' + (' (NaN mismatch)' if nan_mismatch else '')
    return text + (f' (tolerance {allowed:g})' if allowed else ''), ok


def compare(file_a: str, file_b: str) -> int:
    """Print every key's max abs difference; 0 if all are acceptable."""
    a, b = np.load(file_a), np.load(file_b)
    keys = sorted(set(a.files) | set(b.files))
    failed = 0
    width = max(len(k) for k in keys)
    for key in keys:
        if key not in a.files or key not in b.files:
            text, ok = f'only in {file_a if key in a.files else file_b}', False
        else:
            text, ok = compare_arrays(a[key], b[key], key)
        failed += not ok
        print(f'{"ok  " if ok else "FAIL"} {key:<{width}} {text}')
    print(f'{len(keys) - failed}/{len(keys)} keys equal' +
          ('' if not failed else f', {failed} differ'))
    return 1 if failed else 0


def main() -> None:
    """Dump or compare."""
    args = parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    dump(args)


if __name__ == '__main__':
    main()
