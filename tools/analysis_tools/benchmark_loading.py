"""Time loading one (image, label) pair, decoded or from a pair cache.

A training sample at N prompts loads N + 1 pairs. This writes ``--pairs``
synthetic VOC-sized pairs (a smooth RGB JPEG and an 8-bit PNG mask),
then times ``LoadVICLPair.transform`` on each, decoding and resizing
them, and again reading them from a :class:`PairCache` of the same
pairs. Times are the median over ``--repeat`` passes.

Example::

    python tools/analysis_tools/benchmark_loading.py --pairs 64 --repeat 5
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import List, Optional

import numpy as np
from PIL import Image

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from projects.prompthub.datasets.transforms import LoadVICLPair, PairCache
from tools.analysis_tools.benchmark import markdown_table, write_json


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pairs', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--width', type=int, default=500)
    parser.add_argument('--height', type=int, default=375)
    parser.add_argument(
        '--num-prompts', type=int, nargs='+', default=[1, 16, 64])
    parser.add_argument('--out', default=None, help='JSON output file')
    return parser.parse_args(argv)


def write_pairs(folder: str, count: int, width: int,
                height: int) -> List[dict]:
    """Records of ``count`` synthetic VOC-like pairs under ``folder``."""
    rng = np.random.default_rng(0)
    records = []
    for i in range(count):
        coarse = rng.integers(
            0, 256, (height // 10, width // 10, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        img_path = osp.join(folder, f'{i}.jpg')
        img.save(img_path, quality=90)
        mask = np.zeros((height, width), np.uint8)
        mask[height // 4:3 * height // 4, width // 3:2 * width // 3] = 15
        mask_path = osp.join(folder, f'{i}.png')
        Image.fromarray(mask).save(mask_path)
        records.append(
            dict(img_path=img_path, seg_map_path=mask_path, class_id=14))
    return records


def time_pass(loader: LoadVICLPair, records: List[dict]) -> float:
    """Seconds per pair of one pass over ``records``."""
    start = time.perf_counter()
    for record in records:
        loader.transform(dict(record))
    return (time.perf_counter() - start) / len(records)


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        records = write_pairs(tmp, args.pairs, args.width, args.height)
        decoder = LoadVICLPair()
        cache_dir = osp.join(tmp, 'cache')
        PairCache.write(
            cache_dir, decoder.cache_settings(),
            ((LoadVICLPair.cache_key(r), *decoder.load_resized(dict(r)))
             for r in records), len(records))
        cached = LoadVICLPair(cache_dir=cache_dir)
        times = dict(decode=[], cache=[])
        for _ in range(args.repeat):
            times['decode'].append(time_pass(decoder, records))
            times['cache'].append(time_pass(cached, records))
        if cached.cache_misses:
            raise RuntimeError(f'{cached.cache_misses} cache misses')
    per_pair = {k: statistics.median(v) for k, v in times.items()}
    result = dict(
        command='python tools/analysis_tools/benchmark_loading.py ' +
        ' '.join(sys.argv[1:] if argv is None else argv),
        pairs=args.pairs,
        image_size=[args.width, args.height],
        per_pair_ms={
            k: v * 1e3
            for k, v in per_pair.items()
        },
        speedup=per_pair['decode'] / per_pair['cache'],
        times_s=times)
    lines = [
        f'LoadVICLPair, {args.pairs} pairs of {args.width}x{args.height}, '
        f'median of {args.repeat} passes, one process:'
    ] + markdown_table(('N', 'decode ms per sample', 'cache ms per sample'),
                       [(num, f"{(num + 1) * per_pair['decode'] * 1e3:.1f}",
                         f"{(num + 1) * per_pair['cache'] * 1e3:.2f}")
                        for num in args.num_prompts])
    lines.append(f"per pair: decode {per_pair['decode'] * 1e3:.2f} ms, "
                 f"cache {per_pair['cache'] * 1e3:.3f} ms "
                 f"({result['speedup']:.0f}x)")
    print('\n'.join(lines))
    write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()
