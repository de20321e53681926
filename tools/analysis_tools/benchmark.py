"""Time PromptHub's training and evaluation steps against their floor.

For every batch size B and prompt count N of a grid this measures
(``--repeat`` rounds after ``--warmup`` rounds, each round calling every
function once, so that the ratios, taken per round, compare runs made
under the same load; random inputs, random weights):

* ``train``: one optimiser step (forward, losses, backward, SGD step) with
  a warm target-code cache, i.e. without the VQGAN encoder;
* ``train_uncached`` (``--uncached``): the same, encoding C* every step;
* ``eval``: ``predict`` under ``no_grad`` (forward + VQGAN decode + paste),
  with the prompt-state cache warm when the model has one (every prompt
  of the batch seen before: the steady state of an evaluation whose
  prompts recur);
* ``eval_cold`` (models with a prompt-state cache): the same with the
  cache emptied before every call (every prompt new, plus the hashing);
  the evaluation calls are interleaved with each other (and
  ``eval_floor``), not with the training calls, after at least one
  warm-up round;
* ``neck``: the fusion neck's forward and backward alone;
* ``floor``: the backbone's forward over the fused tokens plus the
  backward through its activations (the least a training step can cost);
* ``eval_floor``: the backbone's forward plus a VQGAN decode;
* ``train_over_first_n``: the step at N over the step at the grid's first
  N (as a ratio of the floor-normalised steps);
* ``vqgan_encode`` / ``vqgan_decode``: one batch of canvases;
* the peak memory of each (CUDA: ``max_memory_allocated``; CPU: the peak
  growth of resident minus file-backed memory, sampled every 2 ms).

``--retrieval`` adds a synthetic-scale measurement of the chunked cosine
top-k of :mod:`projects.prompthub.retrieval` on memory-mapped fp16
features of the real width (257 x 1024) and an extrapolation to
COCO-train (82,783 x 82,783) on one GPU.

Example::

    CONFIG=configs/prompthub/prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py
    python tools/analysis_tools/benchmark.py $CONFIG \\
        --device cpu --batch-sizes 1 --num-prompts 1 4 16 64 \\
        --out work_dirs/benchmark.json

The model is built from the config's ``model`` with random weights
(checkpoint paths removed); ``--tiny`` swaps in the tiny backbone and neck.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import DictAction

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

#: COCO-train 2014 images and the width of pixel-level CLIP features.
COCO_TRAIN_IMAGES = 82783
FEATURE_DIM = 257 * 1024


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_model_args(parser)
    parser.add_argument(
        '--device',
        default=None,
        help='cpu or cuda (default: cuda when available)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='autocast (fp16 + GradScaler on CUDA, bf16 on '
        'CPU) instead of fp32')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[16])
    parser.add_argument(
        '--num-prompts', type=int, nargs='+', default=[1, 4, 16, 64])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--stat',
        choices=['median', 'min'],
        default='median',
        help='statistic of the tables: median (ratios: '
        'median of the per-round ratios) or min (ratios of '
        'the fastest rounds; steadier on a shared machine)')
    parser.add_argument(
        '--uncached',
        action='store_true',
        help='also time training steps that encode C*')
    parser.add_argument(
        '--skip-model',
        action='store_true',
        help='only the retrieval measurement')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the backbone forward')
    parser.add_argument(
        '--compile-neck',
        action='store_true',
        help='torch.compile the fusion neck (fuses its many '
        'small elementwise kernels)')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument(
        '--retrieval',
        action='store_true',
        help='add the synthetic retrieval measurement')
    parser.add_argument(
        '--retrieval-images', type=int, nargs='+', default=[256, 512, 1024])
    parser.add_argument('--retrieval-dim', type=int, default=FEATURE_DIM)
    parser.add_argument(
        '--retrieval-chunk',
        type=int,
        default=256,
        help='query and candidate rows per block here')
    parser.add_argument(
        '--retrieval-device',
        default='cpu',
        help='device of the retrieval measurement (cuda '
        'measures the GPU directly)')
    parser.add_argument(
        '--gpu-chunk',
        type=int,
        default=4096,
        help='block size assumed for the GPU extrapolation')
    parser.add_argument(
        '--gpu-tflops',
        type=float,
        default=40.0,
        help='assumed sustained fp32 matmul TFLOP/s of the '
        'GPU for the extrapolation (H100: ~50)')
    parser.add_argument(
        '--gpu-read-gbs',
        type=float,
        default=5.0,
        help='assumed host read + H2D GB/s of the feature '
        'store for the extrapolation')
    return parser.parse_args(argv)


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The config, ``--tiny``, ``--cfg-options`` and ``--out``."""
    parser.add_argument(
        'config', help='mmengine config with a PromptHub '
        '`model`')
    parser.add_argument(
        '--tiny', action='store_true', help='tiny random backbone and neck')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config keys, e.g. '
        'model.neck.type=FastLocalityFusionNeck')
    parser.add_argument('--out', default=None, help='JSON output file')


def write_json(path: Optional[str], result: dict) -> None:
    """Save ``result`` to ``path`` (if given), creating its folder."""
    if path:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            json.dump(result, f, indent=1)


# -- timing and memory -------------------------------------------------
class _RSSPeak:
    """Peak growth of this process's anonymous resident memory (sampled)."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.page = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') \
            else 4096

    def _rss(self) -> int:
        # Resident minus file-backed pages: memory-mapped feature stores
        # sit in the page cache and are not the process's own memory.
        try:
            with open('/proc/self/statm') as f:
                fields = f.read().split()
            return (int(fields[1]) - int(fields[2])) * self.page
        except OSError:  # not Linux: no sampling
            return 0

    def __enter__(self) -> '_RSSPeak':
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def _timed(fn: Callable[[], None], device: torch.device) -> tuple:
    """Seconds and peak memory growth (bytes) of one call of ``fn``."""
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with (nullcontext() if cuda else _RSSPeak()) as rss:
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize(device)
        took = time.perf_counter() - start
    if cuda:
        return took, torch.cuda.max_memory_allocated(device) - base
    return took, rss.growth


def _summary(times: List[float], peaks: List[int]) -> Dict[str, float]:
    return dict(
        median_s=statistics.median(times),
        min_s=min(times),
        times_s=times,
        peak_mib=max(peaks) / 2**20)


def measure(fn: Callable[[], None], device: torch.device, repeat: int,
            warmup: int) -> Dict[str, float]:
    """Median/min seconds of ``fn`` and its peak memory in MiB."""
    return measure_interleaved({'fn': fn}, device, repeat, warmup)['fn']


def measure_interleaved(fns: Dict[str, Callable[[],
                                                None]], device: torch.device,
                        repeat: int, warmup: int) -> Dict[str, dict]:
    """Time several functions in rounds (one call of each per round).

    Interleaving makes their ratios robust to load that changes over time
    (a shared machine): a ratio taken within a round compares runs made
    under the same conditions.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs = {name: ([], []) for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            took, peak = _timed(fn, device)
            runs[name][0].append(took)
            runs[name][1].append(peak)
    return {name: _summary(*run) for name, run in runs.items()}


def round_ratio(num: dict, den: dict, stat: str) -> float:
    """``num / den``: the median of the per-round ratios, or (``min``) the
    ratio of the fastest rounds, each call's cost without interference."""
    if stat == 'min':
        return min(num['times_s']) / min(den['times_s'])
    return statistics.median(
        [a / b for a, b in zip(num['times_s'], den['times_s'])])


# -- the model -----------------------------------------------------------
def build_model(cfg_path: str,
                tiny: bool,
                device: torch.device,
                cfg_options: Optional[dict] = None):
    """PromptHub of the config with random weights (neck dropout kept)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import projects.prompthub  # noqa: F401
    from projects.prompthub.models.backbones.mae_vqgan import \
        TINY_MAE_VQGAN_CFG
    from projects.prompthub.registry import MODELS
    from projects.prompthub.utils import apply_cfg_options
    init_default_scope('mmseg')
    cfg = Config.fromfile(cfg_path)
    apply_cfg_options(cfg, cfg_options)  # unknown keys raise
    cfg = cfg.model.to_dict()
    if cfg.get('type') != 'PromptHub':
        raise SystemExit(f'{cfg_path}: model.type must be PromptHub, got '
                         f"{cfg.get('type')}")
    backbone = cfg['backbone']
    if tiny:
        backbone = dict(TINY_MAE_VQGAN_CFG)
        cfg['neck'].update(embed_dims=backbone['embed_dim'], num_heads=4)
    for key in ('mae_checkpoint', 'vqgan_checkpoint', 'init_cfg'):
        backbone.pop(key, None)
    cfg['backbone'] = backbone
    cfg.pop('init_cfg', None)
    cfg.pop('target_cache', None)
    cfg['data_preprocessor'] = dict(type='VICLDataPreprocessor')
    torch.manual_seed(0)
    model = MODELS.build(cfg).to(device)
    return model


def describe_model(model) -> dict:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    bb = model.backbone
    # The MAE-VQGAN's target network is its VQGAN; a backbone that is its
    # own target network (pixel targets) has no separate tokenizer.
    target = bb.target_network()
    return dict(
        backbone_params=count(bb),
        vqgan_params=count(target) if target is not bb else 0,
        neck_params=count(model.neck),
        embed_dim=bb.embed_dim)


def bench_model(args, device: torch.device) -> dict:
    from projects.prompthub.models.utils.target_cache import TargetCache
    model = build_model(args.config, args.tiny, device, args.cfg_options)
    if args.compile_neck:
        model.neck.compile()
    if args.compile:
        model.backbone.forward_tokens = torch.compile(
            model.backbone.forward_tokens)
    cuda = device.type == 'cuda'
    amp_dtype = torch.float16 if cuda else torch.bfloat16

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype) if args.amp \
            else nullcontext()

    scaler = torch.amp.GradScaler('cuda', enabled=args.amp and cuda)
    optim = torch.optim.SGD(model.neck.parameters(), lr=1e-6)
    bb = model.backbone
    size = 111
    rows = []
    floors: Dict[int, dict] = {}
    gen = torch.Generator().manual_seed(0)
    for batch in args.batch_sizes:
        # The floor: what any implementation must do per step.
        tokens = torch.randn(
            batch, bb.grid_size**2, bb.embed_dim, generator=gen).to(device)
        canvas = torch.randn(
            batch, 3, bb.img_size, bb.img_size, generator=gen).to(device)

        def floor_train():
            t = tokens.detach().requires_grad_()
            with autocast():
                logits = bb.forward_tokens(t)
            scaler.scale(logits.float().sum()).backward()

        def floor_eval():
            with torch.no_grad(), autocast():
                bb.decode_codes(bb.forward_tokens(tokens).argmax(-1))

        def encode():
            with torch.no_grad(), autocast():
                bb.encode_to_codes(canvas)

        codes = torch.randint(
            0, bb.num_codes, (batch, bb.grid_size**2),
            generator=gen).to(device)

        def decode():
            with torch.no_grad(), autocast():
                bb.decode_codes(codes)

        floors[batch] = measure_interleaved(
            dict(vqgan_encode=encode, vqgan_decode=decode), device,
            args.repeat, args.warmup)
        for num in args.num_prompts:
            inputs = (torch.randint(
                0,
                256, (batch, num + 1, 2, 3, size, size),
                generator=gen,
                dtype=torch.uint8).float() / 255).to(device)
            cache = TargetCache()
            with autocast():  # warm: the cached codes of this batch
                cache.get(inputs, model.prediction_targets, bb)

            def train_step(use_cache: bool):
                model.target_cache = cache if use_cache else None
                model.train()
                optim.zero_grad(set_to_none=True)
                with autocast():
                    losses = model.loss(inputs, [])
                    loss = sum(losses.values())
                scaler.scale(loss).backward()
                scaler.step(optim)
                scaler.update()

            state_cache = getattr(model, 'prompt_state_cache', None)
            warm_counts = dict(hits=0, misses=0)

            def eval_step(cold: bool = False):
                model.eval()
                if cold:
                    state_cache.clear()
                elif state_cache is not None:
                    before = state_cache.hits, state_cache.misses
                with torch.no_grad(), autocast():
                    model.predict(inputs, None)
                if state_cache is not None and not cold:
                    warm_counts['hits'] += state_cache.hits - before[0]
                    warm_counts['misses'] += state_cache.misses - before[1]

            with torch.no_grad():
                support, query = model.pair_tokens(inputs)

            def neck_step():
                model.train()
                with autocast():
                    out = model.neck(support, query)
                scaler.scale(out.float().sum()).backward()

            fns = dict(
                train=lambda: train_step(True),
                floor=floor_train,
                neck=neck_step)
            if args.uncached:
                fns['train_uncached'] = lambda: train_step(False)
            # Apart from the training calls: entering training empties the
            # prompt-state cache, and ``eval`` is to see it warm.
            eval_fns = dict(eval=eval_step, eval_floor=floor_eval)
            if state_cache is not None:
                eval_fns['eval_cold'] = lambda: eval_step(cold=True)
            row = dict(batch=batch, num_prompts=num)
            row.update(
                measure_interleaved(fns, device, args.repeat, args.warmup))
            row.update(
                measure_interleaved(eval_fns, device, args.repeat,
                                    max(args.warmup, 1)))
            optim.zero_grad(set_to_none=True)
            model.target_cache = None
            st = args.stat
            row['train_over_floor'] = round_ratio(row['train'], row['floor'],
                                                  st)
            row['neck_share'] = round_ratio(row['neck'], row['train'], st)
            row['eval_over_floor'] = round_ratio(row['eval'],
                                                 row['eval_floor'], st)
            if 'eval_cold' in row:
                row['eval_cold_over_floor'] = round_ratio(
                    row['eval_cold'], row['eval_floor'], st)
                # Prompt slots of the ``eval`` calls, warm-up included.
                row['eval_prompt_cache'] = warm_counts
            rows.append(row)
            print(
                f'  B={batch} N={num}: train '
                f'{row["train"][st + "_s"]:.4f}s',
                flush=True)
    add_scaling(rows)
    return dict(
        model=describe_model(model),
        floors={
            str(b): f
            for b, f in floors.items()
        },
        rows=rows)


# -- retrieval -----------------------------------------------------------
def add_scaling(rows: List[dict]) -> None:
    """``train_over_first_n``: step(N) / step(first N) of the same B.

    Taken as the ratio of the per-round train/floor ratios (the floor does
    not depend on N), which cancels load changes between rows.
    """
    for row in rows:
        first = next(r for r in rows if r['batch'] == row['batch'])
        row['train_over_first_n'] = row['train_over_floor'] / \
            first['train_over_floor']


def bench_retrieval(args) -> dict:
    from projects.prompthub.retrieval.topk import cosine_topk
    dim, chunk = args.retrieval_dim, args.retrieval_chunk
    largest = max(args.retrieval_images)
    device = torch.device(args.retrieval_device)
    cuda = device.type == 'cuda'
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'features.f16')
        store = np.memmap(path, np.float16, 'w+', shape=(largest, dim))
        rng = np.random.default_rng(0)
        for start in range(0, largest, 64):
            block = rng.standard_normal((min(64, largest - start), dim),
                                        dtype=np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            store[start:start + len(block)] = block
        store.flush()
        del store
        for num in sorted(args.retrieval_images):
            feats = np.memmap(path, np.float16, 'r', shape=(num, dim))
            names = [str(i) for i in range(num)]
            # Read rate of the store alone (page cache, fp16 -> fp32).
            start = time.perf_counter()
            for s in range(0, num, chunk):
                np.array(feats[s:s + chunk], copy=True)
            read_s = time.perf_counter() - start
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            with _RSSPeak() as rss:
                start = time.perf_counter()
                # Returns host arrays, so the GPU work is finished here.
                cosine_topk(
                    feats,
                    feats,
                    k=50,
                    query_names=names,
                    candidate_names=names,
                    exclude_self=True,
                    chunk_size=chunk,
                    query_chunk_size=chunk,
                    device=device,
                    normalize=False)
                took = time.perf_counter() - start
            del feats
            points.append(
                dict(
                    images=num,
                    seconds=took,
                    images_per_s=num / took,
                    gflops=2 * num * num * dim / took / 1e9,
                    read_gbs=num * dim * 2 / read_s / 1e9,
                    peak_rss_mib=rss.growth / 2**20,
                    peak_gpu_mib=torch.cuda.max_memory_allocated(device) /
                    2**20 if cuda else None))
            print(f'  retrieval {num} x {num}: {took:.2f}s', flush=True)
    # Scaling exponent of the measured times.
    if len(points) > 1:
        x = np.log([p['images'] for p in points])
        y = np.log([p['seconds'] for p in points])
        exponent = float(np.polyfit(x, y, 1)[0])
    else:
        exponent = None
    # Extrapolation to COCO-train on one GPU (formula, stated inputs).
    n, g = COCO_TRAIN_IMAGES, args.gpu_chunk
    flops = 2.0 * n * n * dim
    passes = -(-n // g)
    read_bytes = passes * n * dim * 2.0
    compute_s = flops / (args.gpu_tflops * 1e12)
    read_s = read_bytes / (args.gpu_read_gbs * 1e9)
    # Query block fp32 + candidate chunk fp16 and fp32 + score block and
    # the top-k buffers.
    gpu_bytes = g * dim * 4 + g * dim * (2 + 4) + 3 * g * g * 4
    model_mem = chunk * dim * 4 + chunk * dim * (2 + 4) + 3 * chunk**2 * 4
    # The product is quadratic in the images: scale the largest run.
    top = max(points, key=lambda p: p['images'])
    measured_s = top['seconds'] * (n / top['images'])**2
    return dict(
        dim=dim,
        chunk=chunk,
        device=str(device),
        points=points,
        measured_quadratic_s=measured_s,
        time_exponent=exponent,
        memory_model_mib_at_measured_chunk=model_mem / 2**20,
        extrapolation=dict(
            images=n,
            gpu_chunk=g,
            assumed_gpu_tflops=args.gpu_tflops,
            assumed_read_gbs=args.gpu_read_gbs,
            matmul_flop=flops,
            passes_over_candidates=passes,
            bytes_read=read_bytes,
            compute_s=compute_s,
            read_s=read_s,
            total_s_upper=compute_s + read_s,
            gpu_memory_gib=gpu_bytes / 2**30))


# -- output --------------------------------------------------------------
def markdown_table(header: Sequence[str],
                   rows: Iterable[Sequence]) -> List[str]:
    """Lines of a markdown table (cells already formatted)."""
    return (['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)] +
            ['| ' + ' | '.join(map(str, row)) + ' |' for row in rows])


def format_tables(result: dict) -> str:
    """Markdown tables of a result (times use ``result['stat']``)."""
    stat = f"{result.get('stat', 'median')}_s"

    def ms(entry: dict) -> str:
        return f'{entry[stat] * 1e3:.1f}'

    lines = []
    model = result.get('model_bench')
    if model:
        rows = model['rows']
        lines += [
            f"Times: {result.get('stat', 'median')} of "
            f"{result.get('repeat')} rounds; {result.get('device')} "
            f"({result.get('threads')} threads), "
            f"{result.get('precision')}.", ''
        ]
        lines += markdown_table(
            ('B', 'N', 'train ms', 'floor ms', 'train/floor', 'N vs first N',
             'neck ms', 'neck share', 'eval ms', 'eval floor ms',
             'eval/eval-floor', 'train peak MiB', 'floor peak MiB',
             'eval peak MiB'),
            [(r['batch'], r['num_prompts'], ms(r['train']), ms(r['floor']),
              f"{r['train_over_floor']:.2f}", f"{r['train_over_first_n']:.2f}",
              ms(r['neck']), f"{100 * r['neck_share']:.1f}%", ms(
                  r['eval']), ms(r['eval_floor']),
              f"{r['eval_over_floor']:.2f}", f"{r['train']['peak_mib']:.0f}",
              f"{r['floor']['peak_mib']:.0f}", f"{r['eval']['peak_mib']:.0f}")
             for r in rows])
        cold = [r for r in rows if 'eval_cold' in r]
        if cold:
            lines.append('')
            lines += markdown_table(
                ('B', 'N', 'eval ms (prompt cache warm)', 'eval ms (cold)',
                 'eval floor ms', 'warm/eval-floor', 'cold/eval-floor'),
                [(r['batch'], r['num_prompts'], ms(
                    r['eval']), ms(r['eval_cold']), ms(
                        r['eval_floor']), f"{r['eval_over_floor']:.2f}",
                  f"{r['eval_cold_over_floor']:.2f}") for r in cold])
        uncached = [r for r in rows if 'train_uncached' in r]
        if uncached:
            lines.append('')
            lines += markdown_table(('B', 'N', 'train ms (cache warm)',
                                     'train ms (encode C* every step)'),
                                    [(r['batch'], r['num_prompts'],
                                      ms(r['train']), ms(r['train_uncached']))
                                     for r in uncached])
        lines.append('')
        lines += markdown_table(
            ('B', 'VQGAN encode ms', 'VQGAN decode ms'),
            [(b, ms(f['vqgan_encode']), ms(f['vqgan_decode']))
             for b, f in model['floors'].items()])
    ret = result.get('retrieval')
    if ret:
        if lines:
            lines.append('')
        lines.append(f"Retrieval top-50, D={ret['dim']}, fp16 memmap, "
                     f"blocks of {ret['chunk']}, on "
                     f"{ret.get('device', 'cpu')}:")
        lines += markdown_table(
            ('images', 's', 'images/s', 'GFLOP/s', 'store read GB/s',
             'peak RSS growth MiB', 'peak GPU MiB'),
            [(p['images'], f"{p['seconds']:.2f}", f"{p['images_per_s']:.1f}",
              f"{p['gflops']:.1f}", f"{p['read_gbs']:.2f}",
              f"{p['peak_rss_mib']:.0f}", 'n/a'
              if p.get('peak_gpu_mib') is None else f"{p['peak_gpu_mib']:.0f}")
             for p in ret['points']])
        ex = ret['extrapolation']
        exp = ret['time_exponent']
        lines.append(
            f"Time exponent in images (fit): "
            f"{'n/a' if exp is None else f'{exp:.2f}'}; memory model at "
            f"this block size: {ret['memory_model_mib_at_measured_chunk']:.0f}"
            ' MiB.')
        lines.append(f"Measured scaling (largest run x (images ratio)^2): "
                     f"{ex['images']} x {ex['images']} would take "
                     f"{ret['measured_quadratic_s'] / 60:.1f} min on "
                     f"{ret.get('device', 'cpu')} with these blocks.")
        lines.append(
            f"Extrapolation to {ex['images']} x {ex['images']} on one GPU "
            f"(blocks of {ex['gpu_chunk']}): {ex['matmul_flop']:.3g} FLOP at "
            f"{ex['assumed_gpu_tflops']} TFLOP/s = {ex['compute_s']:.0f} s; "
            f"{ex['passes_over_candidates']} passes reading "
            f"{ex['bytes_read'] / 1e9:.0f} GB at {ex['assumed_read_gbs']} "
            f"GB/s = {ex['read_s']:.0f} s; at most "
            f"{ex['total_s_upper'] / 60:.1f} min without overlap; GPU memory "
            f"{ex['gpu_memory_gib']:.1f} GiB.")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the benchmark; returns (and prints, and saves) the result."""
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace, argv: Optional[List[str]]) -> dict:
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    result = dict(
        command='python tools/analysis_tools/benchmark.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        config=args.config,
        tiny=args.tiny,
        device=str(device),
        device_name=torch.cuda.get_device_name(device)
        if device.type == 'cuda' else platform.processor() or 'cpu',
        threads=torch.get_num_threads(),
        precision=('amp-fp16' if device.type == 'cuda' else 'amp-bf16')
        if args.amp else 'fp32',
        torch=torch.__version__,
        repeat=args.repeat,
        warmup=args.warmup,
        stat=args.stat,
        compile=dict(backbone=args.compile, neck=args.compile_neck))
    if not args.skip_model:
        result['model_bench'] = bench_model(args, device)
    if args.retrieval:
        result['retrieval'] = bench_retrieval(args)
    print(format_tables(result))
    write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()
