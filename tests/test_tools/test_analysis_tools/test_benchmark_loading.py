"""tools/analysis_tools/benchmark_loading.py on a few small pairs (no timing
asserts)."""
import json

import pytest

from tools.analysis_tools.benchmark_loading import main


def test_decoded_and_cached_pairs_are_timed(tmp_path, capsys):
    out = tmp_path / 'loading.json'
    result = main([
        '--pairs', '3', '--repeat', '2', '--width', '40', '--height', '30',
        '--num-prompts', '1', '4', '--out',
        str(out)
    ])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert set(result['per_pair_ms']) == {'decode', 'cache'}
    assert all(len(v) == 2 for v in result['times_s'].values())
    assert result['speedup'] == pytest.approx(result['per_pair_ms']['decode'] /
                                              result['per_pair_ms']['cache'])
    printed = capsys.readouterr().out
    assert '| 4 |' in printed and 'per pair: decode' in printed
