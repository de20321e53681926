import numpy as np
import pytest
import torch

from projects.prompthub.retrieval import FeatureWriter, cosine_topk
from ._helpers import brute_force_topk


def _features(n, d, seed):
    return np.random.default_rng(seed).standard_normal(
        (n, d)).astype(np.float32)


def _check(idx, scores, ref_idx, ref_sim):
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_sim, atol=1e-5)


def test_matches_brute_force_val_to_train():
    query, cands = _features(13, 24, 0), _features(29, 24, 1)
    idx, scores = cosine_topk(query, cands, 5, chunk_size=7)
    assert idx.dtype == np.int64 and scores.dtype == np.float32
    _check(idx, scores, *brute_force_topk(query, cands, 5))


@pytest.mark.parametrize('chunk_size,query_chunk_size', [(1, None), (3, 2),
                                                         (7, 5), (10, 13),
                                                         (64, 1), (29, 64)])
def test_chunked_equals_unchunked(chunk_size, query_chunk_size):
    # Train -> train with names listed twice (one image, two classes).
    feats = _features(23, 16, 2)
    names = [f'img{i % 19}' for i in range(23)]
    feats[19:] = feats[:4] + 0.1 * _features(4, 16, 3)
    full = cosine_topk(
        feats, feats, 6, names, names, exclude_self=True, chunk_size=10_000)
    chunked = cosine_topk(
        feats,
        feats,
        6,
        names,
        names,
        exclude_self=True,
        chunk_size=chunk_size,
        query_chunk_size=query_chunk_size)
    np.testing.assert_array_equal(chunked[0], full[0])
    # BLAS blocking may change the last bit of a score, never the order.
    np.testing.assert_allclose(chunked[1], full[1], atol=1e-6)
    _check(*full, *brute_force_topk(feats, feats, 6, names, names, True))


def test_self_excluded_and_names_deduplicated():
    feats = _features(12, 8, 4)
    names = ['a', 'b', 'c', 'a', 'd', 'e', 'b', 'f', 'g', 'h', 'i', 'j']
    feats[3] = feats[0] * 2.0  # same image, listed twice
    idx, _ = cosine_topk(
        feats, feats, 8, names, names, exclude_self=True, chunk_size=5)
    for i, row in enumerate(idx):
        got = [names[j] for j in row]
        assert names[i] not in got
        assert len(set(got)) == len(got) == 8
    # The duplicate row of 'a' is not a neighbour of 'a' either.
    assert 3 not in idx[0] and 0 not in idx[3]


def test_exclusion_is_by_name_not_rank():
    # The candidate named like the query is its 3rd best match: dropping
    # rank 1 (the reference's [1:51]) would be wrong here.
    query = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    cands = np.array(
        [[1.0, 0.1, 0.0], [1.0, 0.2, 0.0], [1.0, 0.3, 0.0], [0.0, 1.0, 0.0]],
        dtype=np.float32)
    cand_names = ['x', 'y', 'q', 'z']
    idx, _ = cosine_topk(
        query, cands, 3, ['q'], cand_names, exclude_self=True, chunk_size=2)
    assert [cand_names[j] for j in idx[0]] == ['x', 'y', 'z']
    idx, _ = cosine_topk(query, cands, 3, ['q'], cand_names, chunk_size=2)
    assert [cand_names[j] for j in idx[0]] == ['x', 'y', 'q']


def test_padding_when_too_few_candidates():
    feats = _features(3, 4, 5)
    names = ['a', 'b', 'c']
    idx, scores = cosine_topk(
        feats, feats, 3, names, names, exclude_self=True, chunk_size=2)
    assert (idx[:, 2] == -1).all() and np.isneginf(scores[:, 2]).all()
    assert (idx[:, :2] >= 0).all()


def test_feature_store_and_fp16_inputs(tmp_path):
    query, cands = _features(9, 12, 6), _features(17, 12, 7)
    unit = cands / np.linalg.norm(cands, axis=1, keepdims=True)
    writer = FeatureWriter(str(tmp_path / 'c.npy'), unit.shape, np.float32)
    writer.write(unit[:10])
    writer.write(unit[10:])
    store = writer.close(dict(test=1))
    ref = cosine_topk(query, cands, 4, chunk_size=100)
    unit_q = query / np.linalg.norm(query, axis=1, keepdims=True)
    got = cosine_topk(unit_q, store, 4, chunk_size=4, normalize=False)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1], atol=1e-6)
    half = cosine_topk(query, unit.astype(np.float16), 4, chunk_size=5)
    np.testing.assert_allclose(half[1], ref[1], atol=2e-3)


def test_argument_errors():
    feats = _features(4, 3, 8)
    with pytest.raises(ValueError, match='by name'):
        cosine_topk(feats, feats, 2, exclude_self=True)
    with pytest.raises(ValueError, match='dim'):
        cosine_topk(feats, _features(4, 5, 9), 2)
    with pytest.raises(ValueError, match='k must be positive'):
        cosine_topk(feats, feats, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    feats = _features(50, 64, 10)
    names = [f'n{i % 40}' for i in range(50)]
    cpu = cosine_topk(
        feats, feats, 10, names, names, exclude_self=True, chunk_size=16)
    gpu = cosine_topk(
        feats,
        feats,
        10,
        names,
        names,
        exclude_self=True,
        chunk_size=16,
        device='cuda')
    np.testing.assert_array_equal(gpu[0], cpu[0])
    np.testing.assert_allclose(gpu[1], cpu[1], atol=1e-5)
