"""tools/analysis_tools/benchmark.py end to end on the tiny model (no timing
asserts)."""
import json
import math

import pytest
import torch

from tools.analysis_tools.benchmark import (COCO_TRAIN_IMAGES, format_tables,
                                            main)

TINY = 'configs/prompthub/prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py'


def test_tiny_grid_and_retrieval(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    result = main([
        TINY, '--tiny', '--device', 'cpu', '--batch-sizes', '1',
        '--num-prompts', '1', '2', '--repeat', '1', '--warmup', '0',
        '--threads', '1', '--retrieval', '--retrieval-images', '16', '32',
        '--retrieval-dim', '64', '--retrieval-chunk', '8', '--gpu-chunk',
        '4096', '--out',
        str(out)
    ])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    bench = result['model_bench']
    assert [(r['batch'], r['num_prompts']) for r in bench['rows']] == \
        [(1, 1), (1, 2)]
    for row in bench['rows']:
        for key in ('train', 'floor', 'eval', 'eval_cold', 'eval_floor',
                    'neck'):
            assert row[key]['median_s'] > 0
            assert len(row[key]['times_s']) == 1
        assert row['neck_share'] > 0 and row['train_over_floor'] > 0
        assert row['eval_cold_over_floor'] > 0
        # ``eval`` ran warm: its prompts were computed in the warm-up round
        # only (training calls, which empty the cache, run apart).
        assert row['eval_prompt_cache'] == dict(
            hits=row['num_prompts'], misses=row['num_prompts'])
    assert bench['rows'][0]['train_over_first_n'] == 1
    assert set(bench['floors']['1']) == {'vqgan_encode', 'vqgan_decode'}
    assert bench['model']['neck_params'] > 0
    ret = result['retrieval']
    assert [p['images'] for p in ret['points']] == [16, 32]
    ex = ret['extrapolation']
    assert ex['passes_over_candidates'] == math.ceil(COCO_TRAIN_IMAGES / 4096)
    assert ex['matmul_flop'] == 2.0 * COCO_TRAIN_IMAGES**2 * 64
    assert ret['device'] == 'cpu'
    assert all(p['peak_gpu_mib'] is None for p in ret['points'])
    assert ret['measured_quadratic_s'] == pytest.approx(
        ret['points'][1]['seconds'] * (COCO_TRAIN_IMAGES / 32)**2)
    printed = capsys.readouterr().out
    assert format_tables(result) in printed
    assert '| 1 | 2 |' in printed and 'Extrapolation' in printed
    assert 'Measured scaling' in printed
    assert 'eval ms (prompt cache warm)' in printed


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_retrieval_on_cuda_reports_gpu_memory():
    result = main([
        TINY, '--skip-model', '--retrieval', '--retrieval-device', 'cuda',
        '--retrieval-images', '16', '32', '--retrieval-dim', '64',
        '--retrieval-chunk', '8'
    ])
    points = result['retrieval']['points']
    assert result['retrieval']['device'].startswith('cuda')
    assert all(p['peak_gpu_mib'] > 0 for p in points)
