import importlib.util
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image

from projects.prompthub.retrieval import RetrievalIndex, make_fingerprint
from ..test_retrieval._helpers import (TINY_KWARGS, TINY_MODEL,
                                       TINY_PREPROCESS, brute_force_topk,
                                       make_images, manual_features,
                                       save_tiny_model)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'misc', 'build_retrieval_index.py')


def _tool():
    spec = importlib.util.spec_from_file_location('build_retrieval_index',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def setup(tmp_path):
    """8 train images, two listed twice (two classes); 3 val images, one
    sharing a name with a train image."""
    weights = str(tmp_path / 'tiny_clip.pth')
    model = save_tiny_model(weights)
    train_names = [f'2007_{i:06d}' for i in range(8)]
    train_paths = make_images(tmp_path, train_names, seed=1)
    records = [
        dict(img_path=p, sample_name=n, class_id=1)
        for n, p in zip(train_names, train_paths)
    ]
    records.insert(3, dict(records[0], class_id=2))
    records.append(dict(records[5], class_id=3))
    val_dir = tmp_path / 'val'
    val_dir.mkdir()
    val_names = ['2008_000000', train_names[2], '2008_000002']
    val_paths = make_images(val_dir, val_names, seed=2)
    # The same picture in both splits, under the same name.
    shutil.copyfile(train_paths[2], val_paths[1])
    val_records = [
        dict(img_path=p, sample_name=n) for n, p in zip(val_names, val_paths)
    ]
    cfg = tmp_path / 'retrieval_cfg.py'
    retrieval = dict(
        query_dataset=dict(type='RetrievalToyDataset', records=records),
        model=TINY_MODEL,
        weights=weights,
        model_kwargs=TINY_KWARGS,
        preprocess=TINY_PREPROCESS,
        topk=4,
        batch_size=3,
        chunk_size=5,
        out=str(tmp_path / 'work' / 'index.npz'))
    cfg.write_text(f'retrieval = {retrieval!r}\n')
    return dict(
        tmp=tmp_path,
        cfg=str(cfg),
        model=model,
        weights=weights,
        train=(train_names, train_paths),
        val=(val_names, val_paths),
        val_records=val_records,
        out=retrieval['out'])


def test_train_to_train_matches_brute_force(setup, capsys):
    _tool().main([setup['cfg'], '--device', 'cpu'])
    stdout = capsys.readouterr().out
    assert 'images/s' in stdout and 'Peak memory' in stdout
    assert '8 images' in stdout  # de-duplicated before extraction
    index = RetrievalIndex.load(setup['out'])
    names, paths = setup['train']
    assert index.query_names == names == index.candidate_names
    feats = manual_features(setup['model'], paths)
    ref_idx, ref_sim = brute_force_topk(
        feats, feats, 4, names, names, exclude_self=True)
    np.testing.assert_array_equal(index.indices, ref_idx)
    np.testing.assert_allclose(index.scores, ref_sim, atol=1e-5)
    for i, name in enumerate(names):
        got = index.neighbours(name, 4)
        assert name not in got and len(set(got)) == 4
    fp = index.fingerprint
    assert fp['exclude_self'] is True and fp['topk'] == 4
    assert fp['weights'] == 'tiny_clip.pth' and fp['feature'] == 'pixel'
    assert fp['model'] == TINY_MODEL
    # The datasets it was built for, and the command that rebuilds it.
    assert fp['datasets'] == make_fingerprint(names, names)
    assert index.build_command == (
        'python tools/misc/build_retrieval_index.py '
        f'{setup["cfg"]} --device cpu '
        f'--out {setup["out"]}')

    # Another chunking gives the same lists.
    other = str(setup['tmp'] / 'chunked.npz')
    _tool().main([
        setup['cfg'], '--out', other, '--cfg-options',
        'retrieval.chunk_size=3', 'retrieval.query_chunk_size=2',
        'retrieval.batch_size=5'
    ])
    chunked = RetrievalIndex.load(other)
    np.testing.assert_array_equal(chunked.indices, index.indices)
    assert chunked.fingerprint == fp

    # A consumer expecting top-5 refuses the file, naming it and the key.
    expected = make_fingerprint(
        names, names, model=TINY_MODEL, feature='pixel', topk=5)
    with pytest.raises(ValueError) as err:
        RetrievalIndex.load(setup['out'], expected_fingerprint=expected)
    assert setup['out'] in str(err.value)
    assert "['topk']" in str(err.value)


def test_val_to_train_keeps_shared_names(setup, tmp_path, capsys):
    out = str(tmp_path / 'val.npz')
    cfg_path = str(tmp_path / 'val_cfg.py')
    with open(setup['cfg']) as f:
        text = f.read()
    text += ('retrieval["candidate_dataset"] = retrieval["query_dataset"]\n'
             f'retrieval["query_dataset"] = dict(type="RetrievalToyDataset",'
             f' records={setup["val_records"]!r})\n'
             f'retrieval["feature_dir"] = {str(tmp_path / "feats")!r}\n')
    with open(cfg_path, 'w') as f:
        f.write(text)
    _tool().main([cfg_path, '--out', out])
    index = RetrievalIndex.load(out)
    assert index.fingerprint['exclude_self'] is False
    val_names, val_paths = setup['val']
    names, paths = setup['train']
    ref_idx, _ = brute_force_topk(
        manual_features(setup['model'], val_paths),
        manual_features(setup['model'], paths), 4)
    np.testing.assert_array_equal(index.indices, ref_idx)
    assert index.query_names == val_names
    # No exclusion for val -> train: the shared picture is its own best
    # match.
    assert index.neighbours(val_names[1], 1) == [val_names[1]]
    # Features kept in feature_dir are reused by a second run.
    capsys.readouterr()
    _tool().main([cfg_path, '--out', out])
    assert 'all reused' in capsys.readouterr().out
    np.testing.assert_array_equal(RetrievalIndex.load(out).indices, ref_idx)
    # An edited train image: only its feature is recomputed, and the
    # index follows the new picture.
    rng = np.random.default_rng(9)
    Image.fromarray(rng.integers(0, 256, (40, 44, 3),
                                 dtype=np.uint8)).save(paths[5])
    st = os.stat(paths[5])
    os.utime(paths[5], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _tool().main([cfg_path, '--out', out])
    stdout = capsys.readouterr().out
    assert 'Features: 1 images computed' in stdout
    assert '1 of them because the image changed since it was stored; ' \
        '10 reused' in stdout
    ref_idx, _ = brute_force_topk(
        manual_features(setup['model'], val_paths),
        manual_features(setup['model'], paths), 4)
    np.testing.assert_array_equal(RetrievalIndex.load(out).indices, ref_idx)


def test_topk_larger_than_pool_fails(setup):
    with pytest.raises(ValueError, match='only 7 candidates'):
        _tool().main([setup['cfg'], '--cfg-options', 'retrieval.topk=8'])


def test_missing_weights_fail_clearly(setup):
    missing = str(setup['tmp'] / 'open_clip_pytorch_model.bin')
    with pytest.raises(FileNotFoundError) as err:
        _tool().main(
            [setup['cfg'], '--cfg-options', f'retrieval.weights={missing}'])
    assert missing in str(err.value)
    assert 'timm/' + TINY_MODEL in str(err.value)


def test_reference_json_gives_same_neighbours(setup, capsys):
    _tool().main([setup['cfg']])
    index = RetrievalIndex.load(setup['out'])
    lists = {q: index.neighbours(q) for q in index.query_names}
    ref = str(setup['tmp'] / 'folder0_top_50-similarity.json')
    with open(ref, 'w') as f:
        json.dump(lists, f)
    out = str(setup['tmp'] / 'imported.npz')
    capsys.readouterr()
    _tool().main(['--from-json', ref, '--out', out])
    assert 'Imported 8 queries x 4 neighbours' in capsys.readouterr().out
    imported = RetrievalIndex.load(out)
    for q in index.query_names:
        assert imported.neighbours(q, 4) == index.neighbours(q, 4)


def test_missing_dataset_paths_are_named_before_any_feature(tmp_path):
    """The Pascal-5i config's `retrieval` datasets point nowhere: one error
    names both config keys and the data docs; nothing is written."""
    seg_config = osp.join(
        REPO, 'configs', 'prompthub',
        'prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py')
    gone = str(tmp_path / 'no_voc_here')
    out = str(tmp_path / 'index.npz')
    with pytest.raises(FileNotFoundError) as err:
        _tool().main(
            [seg_config, '--out', out, '--cfg-options', f'data_root={gone}'])
    msg = str(err.value)
    assert repr(gone) in msg and '1 missing' in msg
    for key in ('retrieval.query_dataset.data_root',
                'retrieval.candidate_dataset.data_root'):
        assert key in msg, msg
    assert 'docs/reproduction.md' in msg
    assert not osp.exists(out)


def test_missing_reference_json_is_named(tmp_path):
    ref = str(tmp_path / 'folder0_top_50-similarity.json')
    with pytest.raises(FileNotFoundError) as err:
        _tool().main(['--from-json', ref])
    assert repr(ref) in str(err.value)
    assert 'docs/reproduction.md' in str(err.value)
