"""tools/analysis_tools/benchmark_flops.py: counts that add up and match
hand counts."""
import json

from tools.analysis_tools.benchmark_flops import main

TINY = 'configs/prompthub/prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py'
EMBED, PATCH_PIXELS, HALF_TOKENS = 64, 3 * 16 * 16, 98


def test_train_is_floor_plus_neck_plus_pair_embedding(tmp_path, capsys):
    out = tmp_path / 'flops.json'
    result = main([
        TINY, '--tiny', '--batch-size', '2', '--num-prompts', '1', '3',
        '--out',
        str(out)
    ])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result['neck'] == 'LocalityFusionNeck'
    rows = result['rows']
    assert [(r['batch'], r['num_prompts']) for r in rows] == [(2, 1), (2, 3)]
    for row in rows:
        # The patch embedding of the used half of the N + 1 pair canvases
        # (no gradient), by hand: 2 FLOP per multiply-add of a 768 -> 64
        # projection, batch 2.
        embed = 2 * (row['num_prompts'] + 1) * HALF_TOKENS * PATCH_PIXELS \
            * EMBED * 2
        assert row['train'] == row['floor'] + row['neck'] + embed
        assert row['eval'] > row['eval_warm'] > row['eval_floor']
        # Warm: the query's half embedding and the query-side fusion only.
        query_embed = 2 * HALF_TOKENS * PATCH_PIXELS * EMBED * 2
        assert row['eval_warm'] - row['eval_floor'] > query_embed
        assert row['neck_share'] == row['neck'] / row['train']
    # The floor does not depend on N, the neck grows with it.
    assert rows[0]['floor'] == rows[1]['floor'] > 0
    assert rows[1]['neck'] > 2 * rows[0]['neck']
    # Cold evaluation grows with N like the neck; warm by far less.
    cold_growth = rows[1]['eval'] - rows[0]['eval']
    warm_growth = rows[1]['eval_warm'] - rows[0]['eval_warm']
    assert 0 < warm_growth < cold_growth / 4
    assert rows[0]['train_over_first_n'] == 1
    assert '| 2 | 3 |' in capsys.readouterr().out
    # --cfg-options reach the counted model: the neck without the prompt
    # alignment counts less.
    fast = main([
        TINY, '--tiny', '--batch-size', '2', '--num-prompts', '3',
        '--cfg-options', 'model.neck.type=FastLocalityFusionNeck'
    ])
    assert fast['neck'] == 'FastLocalityFusionNeck'
    assert 0 < fast['rows'][0]['neck'] < rows[1]['neck']
