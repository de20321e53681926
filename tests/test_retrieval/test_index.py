import json
import os.path as osp

import numpy as np
import pytest

from projects.prompthub.retrieval import (RetrievalIndex, collect_samples,
                                          fingerprint_diff, make_fingerprint,
                                          names_hash)
from ._helpers import RetrievalToyDataset


def _index():
    queries = ['q0', 'q1', 'q2']
    cands = ['a', 'b', 'c', 'd']
    indices = np.array([[2, 0], [1, 3], [0, 1]])
    scores = np.array([[0.9, 0.5], [0.8, 0.1], [0.7, 0.6]])
    fp = make_fingerprint(
        queries, cands, model='m', preprocess=dict(mean=(0.5, 0.5)), topk=2)
    return RetrievalIndex(queries, cands, indices, scores, fp)


def test_names_hash_order_and_boundaries():
    assert names_hash(['a', 'b']) == names_hash(['a', 'b'])
    assert names_hash(['a', 'b']) != names_hash(['b', 'a'])
    assert names_hash(['ab', 'c']) != names_hash(['a', 'bc'])


def test_neighbours():
    index = _index()
    assert len(index) == 3 and index.topk == 2
    assert index.neighbours('q0', 2) == ['c', 'a']
    assert index.neighbours('q1') == ['b', 'd']
    assert index.neighbours('q2', 1) == ['a']
    assert index.neighbour_indices('q0', 1).tolist() == [2]
    assert 'q1' in index and 'a' not in index
    with pytest.raises(KeyError, match='nope'):
        index.neighbours('nope', 1)
    with pytest.raises(ValueError, match='3 neighbours requested'):
        index.neighbours('q0', 3)


def test_validation():
    with pytest.raises(ValueError, match='not unique'):
        RetrievalIndex(['q', 'q'], ['a'], np.zeros((2, 1)))
    with pytest.raises(ValueError, match='shape'):
        RetrievalIndex(['q'], ['a'], np.zeros((2, 1)))
    with pytest.raises(ValueError, match='out of range'):
        RetrievalIndex(['q'], ['a'], np.array([[1]]))


def test_save_load_roundtrip(tmp_path):
    index = _index()
    path = str(tmp_path / 'sub' / 'index.npz')
    index.save(path)
    loaded = RetrievalIndex.load(path)
    assert loaded.query_names == index.query_names
    assert loaded.candidate_names == index.candidate_names
    assert loaded.indices.dtype == np.int64
    assert loaded.scores.dtype == np.float32
    np.testing.assert_array_equal(loaded.indices, index.indices)
    np.testing.assert_array_equal(loaded.scores, index.scores)
    assert loaded.fingerprint == index.fingerprint
    # Tuples in the expected fingerprint compare equal to stored lists.
    RetrievalIndex.load(
        path,
        expected_fingerprint=dict(model='m', preprocess=dict(mean=(0.5, 0.5))))
    # Exactly the given path, no extra suffix.
    assert osp.isfile(path) and len(list((tmp_path / 'sub').iterdir())) == 1


def test_stale_fingerprint_names_file_and_keys(tmp_path):
    index = _index()
    path = str(tmp_path / 'stale.npz')
    index.save(path)
    expected = dict(
        index.fingerprint,
        topk=50,
        query_names_sha1=names_hash(['q0', 'q1']),
        extra_key='x')
    with pytest.raises(ValueError) as err:
        RetrievalIndex.load(path, expected_fingerprint=expected)
    msg = str(err.value)
    assert path in msg
    assert "['extra_key', 'query_names_sha1', 'topk']" in msg
    assert 'model' not in msg.split('differ')[0]
    assert fingerprint_diff(index.fingerprint, expected) == [
        'extra_key', 'query_names_sha1', 'topk'
    ]
    assert fingerprint_diff(index.fingerprint, index.fingerprint) == []


def test_load_errors(tmp_path):
    missing = str(tmp_path / 'missing.npz')
    with pytest.raises(FileNotFoundError, match='missing.npz'):
        RetrievalIndex.load(missing)
    other = str(tmp_path / 'other.npz')
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match='not a retrieval index'):
        RetrievalIndex.load(other)


@pytest.mark.parametrize('damage', ['truncated', 'empty'])
def test_corrupt_index_names_file_and_rebuild(tmp_path, damage):
    path = str(tmp_path / 'index.npz')
    index = _index()
    index.build_command = 'python tools/misc/build_retrieval_index.py cfg.py'
    index.save(path)
    with open(path, 'r+b') as f:
        f.truncate(osp.getsize(path) // 2 if damage == 'truncated' else 0)
    with pytest.raises(ValueError) as err:
        RetrievalIndex.load(path)
    msg = str(err.value)
    assert path in msg and 'truncated' in msg
    assert ('`python tools/misc/build_retrieval_index.py CONFIG --out ' +
            path) in msg


def test_truncated_reference_json_is_named(tmp_path):
    path = str(tmp_path / 'folder0_top_50-similarity.json')
    with open(path, 'w') as f:
        f.write('{"2007_000033": ["2007_0000')
    with pytest.raises(ValueError) as err:
        RetrievalIndex.from_reference_json(path)
    assert path in str(err.value) and 'truncated' in str(err.value)


def test_build_command_is_kept_out_of_the_fingerprint(tmp_path):
    path = str(tmp_path / 'index.npz')
    index = _index()
    index.build_command = 'python tools/misc/build_retrieval_index.py cfg.py'
    index.save(path)
    loaded = RetrievalIndex.load(path)
    assert loaded.build_command == index.build_command
    assert loaded.fingerprint == _index().fingerprint


def test_from_reference_json(tmp_path):
    lists = {
        '2007_000033': ['2007_000042', '2008_000001', '2007_000042', 'x'],
        '2007_000042': ['2007_000033', 'x', '2009_000005', '2008_000001'],
        '2009_000005': ['x', '2007_000033'],
    }
    path = str(tmp_path / 'folder0_top_50-similarity.json')
    with open(path, 'w') as f:
        json.dump(lists, f)
    index = RetrievalIndex.from_reference_json(path)
    assert index.query_names == list(lists)
    assert index.topk == 4
    assert index.neighbours('2007_000042') == lists['2007_000042']
    # A name repeated in one list is kept once, at its first place.
    assert index.neighbours('2007_000033') == [
        '2007_000042', '2008_000001', 'x'
    ]
    assert index.neighbours('2009_000005', 2) == ['x', '2007_000033']
    with pytest.raises(ValueError):
        index.neighbours('2009_000005', 3)
    assert np.isnan(index.scores).all()
    assert index.fingerprint['source'] == 'reference_json'
    # Through a saved file and back to the reference format.
    index.save(str(tmp_path / 'ref.npz'))
    loaded = RetrievalIndex.load(str(tmp_path / 'ref.npz'))
    out = str(tmp_path / 'back.json')
    loaded.to_reference_json(out)
    with open(out) as f:
        back = json.load(f)
    assert back['2007_000042'] == lists['2007_000042']
    assert back['2009_000005'] == lists['2009_000005']


def test_from_reference_json_rejects_other_json(tmp_path):
    path = str(tmp_path / 'bad.json')
    with open(path, 'w') as f:
        json.dump(['a', 'b'], f)
    with pytest.raises(ValueError, match='bad.json'):
        RetrievalIndex.from_reference_json(path)


def test_collect_samples_deduplicates_by_name():
    ds = RetrievalToyDataset([
        dict(img_path='/d/a.jpg', sample_name='a', class_id=1),
        dict(img_path='/d/b.jpg', sample_name='b', class_id=1),
        dict(img_path='/d/a.jpg', sample_name='a', class_id=2),
        dict(img_path='/d/c.jpg', sample_name='c', class_id=3),
    ])
    names, paths = collect_samples(ds)
    assert names == ['a', 'b', 'c']
    assert paths == ['/d/a.jpg', '/d/b.jpg', '/d/c.jpg']
    bad = RetrievalToyDataset([
        dict(img_path='/d/a.jpg', sample_name='a'),
        dict(img_path='/e/a.jpg', sample_name='a'),
    ])
    with pytest.raises(ValueError, match='two images'):
        collect_samples(bad)


def test_reference_json_with_extensions_can_be_stripped(tmp_path):
    import json

    from projects.prompthub.retrieval.index import RetrievalIndex
    path = tmp_path / 'coco.json'
    path.write_text(json.dumps({'a.jpg': ['b.jpg', 'c.jpg']}))
    plain = RetrievalIndex.from_reference_json(str(path))
    assert plain.neighbours('a.jpg') == ['b.jpg', 'c.jpg']
    stripped = RetrievalIndex.from_reference_json(str(path), strip_ext=True)
    assert stripped.query_names == ['a']
    assert stripped.neighbours('a') == ['b', 'c']
