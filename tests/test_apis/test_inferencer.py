import json
import os
import os.path as osp
import re
import runpy
import subprocess
import sys
import sysconfig
import textwrap

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from projects.prompthub.apis import PromptHubInferencer
from projects.prompthub.datasets.synthetic_vicl import LookalikeVICLDataset
from projects.prompthub.testing import write_reference_json

SMALL_BACKBONE = dict(
    type='TinyVICLBackbone', embed_dim=32, depth=1, num_heads=2, head_dim=8)


def _config(tmp_path, **model):
    cfg = Config(
        dict(
            default_scope='mmseg',
            model=dict(
                **model,
                type='PromptHub',
                backbone=SMALL_BACKBONE,
                neck=dict(
                    type='LocalityFusionNeck', embed_dims=224, num_heads=2),
                losses=[dict(type='PredictionLoss')],
                binarize='threshold')))
    path = str(tmp_path / 'cfg.py')
    cfg.dump(path)
    return path


def _write_pairs(tmp_path, count=3):
    ds = LookalikeVICLDataset(num_samples=1, num_prompts=count, split='test')
    paths = []
    for slot in range(count + 1):
        pair = ds.render(0, slot, 0)
        img = cv2.resize(pair['img'], (150, 120))  # not the cell size
        mask = cv2.resize(
            pair['gt_seg_map'] * 255, (150, 120),
            interpolation=cv2.INTER_NEAREST)
        ip = str(tmp_path / f'p{slot}.png')
        mp = str(tmp_path / f'p{slot}_m.png')
        cv2.imwrite(ip, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(mp, mask)
        paths.append((ip, mp))
    return paths


def test_inferencer_masks_and_files(tmp_path):
    torch.manual_seed(0)
    pairs = _write_pairs(tmp_path)
    inferencer = PromptHubInferencer(_config(tmp_path))
    # No device given: CUDA when available (mmengine's get_device).
    assert inferencer.device.type == ('cuda'
                                      if torch.cuda.is_available() else 'cpu')
    query = pairs[0][0]
    out_dir = str(tmp_path / 'out')
    out = inferencer([query], prompts=pairs[1:], out_dir=out_dir)
    assert len(out['predictions']) == len(out['visualization']) == 1
    res = out['predictions'][0]
    assert res['mask'].shape == (120, 150) and res['mask'].dtype == bool
    assert res['pred_label_img'].shape == (111, 111, 3)
    names = sorted(p.split('/')[-1] for p in res['paths'])
    assert names == ['p0_mask.png', 'p0_vis.png']
    vis = cv2.imread(str(tmp_path / 'out' / 'p0_vis.png'))
    # 3 prompts + fused + prediction columns.
    assert vis.shape[1] == 5 * 113 + 2
    with pytest.raises(ValueError, match='at least one prompt'):
        inferencer.pack(query, [])


def test_inferencer_takes_any_number_of_prompts(tmp_path):
    """A model configured for 4 prompts per training query still infers
    with 3 (the neck is N-agnostic); the preprocessor's guard stays set."""
    torch.manual_seed(0)
    pairs = _write_pairs(tmp_path, 3)
    cfg = _config(
        tmp_path,
        data_preprocessor=dict(type='VICLDataPreprocessor', num_prompts=4))
    inferencer = PromptHubInferencer(cfg)
    res = inferencer(pairs[0][0], prompts=pairs[1:])['predictions']
    assert res[0]['mask'].shape == (120, 150)
    pre = inferencer.model.data_preprocessor
    assert pre.num_prompts == 4
    with pytest.raises(ValueError, match='Expected 4 prompt pairs'):
        pre(
            dict(inputs=[inferencer.pack(pairs[0][0], pairs[1:])['inputs']]),
            False)


def test_inferencer_from_index(tmp_path):
    pairs = _write_pairs(tmp_path, 2)
    inferencer = PromptHubInferencer(_config(tmp_path))

    class Index:

        def neighbours(self, name, k):
            assert name == 'p0'
            return ['b', 'a'][:k]

    cands = {'a': pairs[1], 'b': pairs[2]}
    packed_ref = inferencer.pack(pairs[0][0], [pairs[2], pairs[1]])
    got = inferencer.prompts_from_index('p0', Index(), cands, 2)
    assert got == [pairs[2], pairs[1]]
    assert packed_ref['inputs'].shape == (3, 2, 3, 111, 111)
    res = inferencer(
        pairs[0][0], index=Index(), candidates=cands,
        num_prompts=2)['predictions']
    assert res[0]['mask'].shape == (120, 150)


def test_infer_tool_writes_visualisation(tmp_path, monkeypatch, capsys):
    pairs = _write_pairs(tmp_path, 1)
    out_dir = str(tmp_path / 'cli')
    argv = [
        'tools/infer.py',
        _config(tmp_path), pairs[0][0], '--prompt', pairs[1][0], pairs[1][1],
        '--out-dir', out_dir, '--device', 'cpu', '--mask-threshold', '127'
    ]  # 0/255: the same foreground
    monkeypatch.setattr(sys, 'argv', argv)
    runpy.run_path('tools/infer.py', run_name='__main__')
    assert 'foreground pixels' in capsys.readouterr().out
    vis = cv2.imread(f'{out_dir}/p0_vis.png')
    mask = cv2.imread(f'{out_dir}/p0_mask.png', cv2.IMREAD_GRAYSCALE)
    assert vis is not None and mask.shape == (120, 150)
    assert set(np.unique(mask)) <= {0, 255}


REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
INFER = osp.join(REPO, 'tools', 'infer.py')
# `python SCRIPT ARGS` without the site module, so neither PYTHONPATH nor
# the venv's editable install (a .pth finder) makes `projects` importable:
# a fresh clone. The venv's site-packages are added as a plain folder.
FRESH_CLONE = textwrap.dedent('''
    import os, runpy, sys
    sys.path.append({site!r})
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name='__main__')
''').format(site=sysconfig.get_paths()['purelib'])


def _fresh_clone_run(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-S', '-c', FRESH_CLONE, *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_infer_tool_runs_from_a_fresh_clone(tmp_path):
    """From another directory, PYTHONPATH unset and no pip install: the
    tool finds the repository's package (it used to fail with "No module
    named 'projects'") and the demo config its committed backbone."""
    probe = tmp_path / 'probe.py'
    probe.write_text('import projects.prompthub\n')
    proc = _fresh_clone_run([str(probe)], str(tmp_path))
    assert "No module named 'projects'" in proc.stderr  # truly isolated
    pairs = _write_pairs(tmp_path, 1)
    out_dir = str(tmp_path / 'out')
    proc = _fresh_clone_run([
        INFER,
        osp.join(
            REPO, 'configs', 'prompthub',
            'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py'),
        pairs[0][0], '--prompt', pairs[1][0], pairs[1][1], '--out-dir',
        out_dir, '--device', 'cpu'
    ], str(tmp_path))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert 'foreground pixels' in proc.stdout
    assert f'loaded {REPO}' in proc.stdout + proc.stderr  # this checkout
    mask = cv2.imread(osp.join(out_dir, 'p0_mask.png'), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (120, 150)


def test_infer_tool_index_route(tmp_path, capsys):
    """--index/--candidates: each query gets the prompts its file stem
    lists, read from the candidates file; the masks equal those of the
    same prompts given with --prompt."""
    tool = runpy.run_path(INFER)
    pairs = _write_pairs(tmp_path, 2)
    cfg = _config(tmp_path)
    ckpt = str(tmp_path / 'model.pth')
    torch.manual_seed(1)
    torch.save({'state_dict': PromptHubInferencer(cfg).model.state_dict()},
               ckpt)
    index = write_reference_json(
        str(tmp_path / 'index.json'), {'p0': ['b', 'a', 'x']})
    with open(tmp_path / 'cands.json', 'w') as f:  # paths relative to it
        json.dump(
            {
                'a': [osp.basename(p) for p in pairs[1]],
                'b': {
                    'image': pairs[2][0],
                    'mask': pairs[2][1]
                }
            }, f)
    common = [cfg, pairs[0][0], '--weights', ckpt, '--device', 'cpu']
    tool['main'](
        common + [
            '--index', index, '--candidates',
            str(tmp_path / 'cands.json'), '--num-prompts', '2', '--out-dir',
            str(tmp_path / 'idx')
        ])
    tool['main'](
        common + [
            '--prompt', *pairs[2], '--prompt', *pairs[1], '--out-dir',
            str(tmp_path / 'given')
        ])
    assert capsys.readouterr().out.count('foreground pixels') == 2
    for name in ('p0_mask.png', 'p0_vis.png'):
        np.testing.assert_array_equal(
            cv2.imread(str(tmp_path / 'idx' / name)),
            cv2.imread(str(tmp_path / 'given' / name)))
    # A third prompt is listed but has no candidate entry: named.
    with pytest.raises(KeyError, match=r"\['x'\] of query 'p0'.*candidates"):
        tool['main'](
            common + [
                '--index', index, '--candidates',
                str(tmp_path / 'cands.json'), '--num-prompts', '3'
            ])
    with pytest.raises(SystemExit):
        tool['main'](common + ['--index', index])  # no --candidates
    assert '--index needs --candidates' in capsys.readouterr().err


def test_infer_tool_documents_every_option():
    parser = runpy.run_path(INFER)['build_parser']()
    undocumented = [a.dest for a in parser._actions if not a.help]
    assert not undocumented


# --- Inputs are read exactly or refused; outputs are written or raise. ---


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """A tiny inferencer, its prompt pairs and a labelled prompt mask."""
    tmp = tmp_path_factory.mktemp('small')
    torch.manual_seed(0)
    pairs = _write_pairs(tmp, 2)
    inferencer = PromptHubInferencer(_config(tmp))
    fg = cv2.imread(pairs[1][1], cv2.IMREAD_GRAYSCALE) > 0
    assert 0 < fg.mean() < 1
    return inferencer, pairs, fg, tmp


def _mask_cell(inferencer, query, prompt_img, mask):
    """The prompt's mask cell as the model sees it (bool SxS)."""
    packed = inferencer.pack(query, [(prompt_img, mask)])
    return packed['inputs'][1, 1, 0].numpy() == 255


def _palette_png(path, labels):
    img = Image.fromarray(labels, 'P')
    palette = [0] * 768
    palette[3:6] = [128, 0, 0]  # VOC colours of ids 1 and 15
    palette[45:48] = [192, 128, 128]
    img.putpalette(palette)
    img.save(path)


@pytest.mark.parametrize('kind', [
    '0/1', '0/255', 'label 15', 'label 15 + 255 void', 'palette 15',
    'palette 1'
])
def test_prompt_mask_file_reads_like_array(small, kind):
    """A prompt mask file is read with the array's rule: a 0/1 or label-id
    PNG is the object, not an empty prompt (the file path used to keep only
    values > 127, so 0/1 and small label ids became all background)."""
    inferencer, pairs, fg, tmp = small
    value = {'0/1': 1, '0/255': 255, 'palette 1': 1}.get(kind, 15)
    labels = fg.astype(np.uint8) * value
    if 'void' in kind:  # mmseg's 255 ignore band around the object
        edge = cv2.dilate(fg.astype(np.uint8), np.ones((5, 5))) > 0
        labels[edge & ~fg] = 255
    path = str(tmp / f"mask_{kind.replace(' ', '_').replace('/', '_')}.png")
    if kind.startswith('palette'):
        _palette_png(path, labels)
    else:
        cv2.imwrite(path, labels)
    query, img = pairs[0][0], pairs[1][0]
    expected = _mask_cell(inferencer, query, img, fg)
    assert expected.any()
    from_file = _mask_cell(inferencer, query, img, path)
    np.testing.assert_array_equal(from_file, expected)
    if not kind.startswith('palette'):
        from_array = _mask_cell(inferencer, query, img, labels)
        np.testing.assert_array_equal(from_array, expected)


def test_ambiguous_prompt_mask_raises_with_fix(small):
    """A soft (or JPEG, or multi-class) mask has no single foreground
    value: it raises naming the file and the fix instead of guessing, and
    the named options pick the foreground."""
    inferencer, pairs, fg, tmp = small
    soft = cv2.GaussianBlur(fg.astype(np.uint8) * 255, (7, 7), 0)
    path = str(tmp / 'soft_mask.png')
    cv2.imwrite(path, soft)
    with pytest.raises(
            ValueError,
            match=r"prompt 0 mask '.*soft_mask.png' "
            r'has \d+ foreground values.*mask_threshold'):
        inferencer.pack(pairs[0][0], [(pairs[1][0], path)])
    multi = fg.astype(np.uint8) * 3
    multi[:10] = 7
    with pytest.raises(
            ValueError,
            match=r'prompt 0 mask \(array\) has 2 '
            r'foreground values \[3, 7\].*mask_fg_value'):
        inferencer.pack(pairs[0][0], [(pairs[1][0], multi)])
    picked = PromptHubInferencer(str(tmp / 'cfg.py'), mask_fg_value=3)
    np.testing.assert_array_equal(
        _mask_cell(picked, pairs[0][0], pairs[1][0], multi),
        _mask_cell(inferencer, pairs[0][0], pairs[1][0], multi == 3))
    cut = PromptHubInferencer(str(tmp / 'cfg.py'), mask_threshold=127)
    np.testing.assert_array_equal(
        _mask_cell(cut, pairs[0][0], pairs[1][0], path),
        _mask_cell(inferencer, pairs[0][0], pairs[1][0], soft > 127))


def test_empty_prompt_mask_warns_naming_it(small):
    inferencer, pairs, fg, tmp = small
    path = str(tmp / 'empty_mask.png')
    cv2.imwrite(path, np.zeros(fg.shape, np.uint8))
    prompts = [pairs[1], (pairs[2][0], path)]
    with pytest.warns(
            UserWarning,
            match=r"prompt 1 mask '.*empty_mask.png' "
            'has no foreground pixels'):
        inferencer.pack(pairs[0][0], prompts)
    big = cv2.resize(cv2.imread(pairs[1][0]), (600, 600))[..., ::-1]
    speck = np.zeros((600, 600), np.uint8)
    speck[301, 301] = 1  # lost by the resize to the 111 cell
    with pytest.warns(
            UserWarning,
            match=r'prompt 0 mask \(array\) has no '
            'foreground pixels after resizing to the 111x111'):
        inferencer.pack(pairs[0][0], [(big, speck)])


@pytest.mark.parametrize(
    'fault', ['truncated jpg', 'truncated png', 'empty', 'not an image'])
def test_corrupt_query_image_raises_naming_it(small, fault):
    """A truncated JPEG used to come back from OpenCV as a half-grey image
    (only a libjpeg warning on stderr); every broken file now raises with
    its path."""
    inferencer, pairs, _, tmp = small
    img = cv2.imread(pairs[0][0])
    ext = '.jpg' if 'jpg' in fault else '.png'
    ok, buf = cv2.imencode(ext, img)
    data = buf.tobytes()
    data = {
        'truncated jpg': data[:len(data) // 2],
        'truncated png': data[:len(data) * 9 // 10],
        'empty': b'',
        'not an image': b'query,0,1\n'
    }[fault]
    path = str(tmp / f"broken_{fault.replace(' ', '_')}{ext}")
    with open(path, 'wb') as f:
        f.write(data)
    word = {
        'empty': 'is empty',
        'not an image': 'not an image'
    }.get(fault, 'truncated or corrupt')
    # The datasets' strict reader names "<what> file '<path>'".
    with pytest.raises(
            ValueError,
            match=f'query image file {re.escape(repr(path))} .*{word}'):
        inferencer([path], prompts=pairs[1:])
    with pytest.raises(ValueError, match='prompt 1 image'):
        inferencer.pack(pairs[0][0], [pairs[1], (path, pairs[2][1])])
    with pytest.raises(
            ValueError, match=f'prompt 1 mask file {re.escape(repr(path))}'):
        inferencer.pack(pairs[0][0], [pairs[1], (pairs[2][0], path)])


def test_same_stem_queries_get_their_own_outputs(small):
    """a/img.png and b/img.png used to write one img_mask.png (the second
    overwrote the first); names are now unique, deterministic and
    returned."""
    inferencer, pairs, _, tmp = small
    queries = []
    for sub, src in (('a', pairs[0][0]), ('b', pairs[1][0])):
        (tmp / sub).mkdir(exist_ok=True)
        queries.append(str(tmp / sub / 'img.png'))
        cv2.imwrite(queries[-1], cv2.imread(src))
    out_dir = str(tmp / 'same_stem')
    out = inferencer(queries, prompts=pairs[2:], out_dir=out_dir)
    res = out['predictions']
    assert not (res[0]['mask'] == res[1]['mask']).all()
    for r, vis in zip(res, out['visualization']):  # each query's own files
        written = cv2.imread(r['paths'][0], cv2.IMREAD_GRAYSCALE)
        np.testing.assert_array_equal(written > 0, r['mask'])
        np.testing.assert_array_equal(
            cv2.imread(r['paths'][1]), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
    names = [osp.basename(r['mask_path']) for r in res]
    assert names == ['img_0_mask.png', 'img_1_mask.png']
    assert [osp.basename(r['vis_path'])
            for r in res] == ['img_0_vis.png', 'img_1_vis.png']
    assert sorted(
        os.listdir(out_dir)) == sorted(names +
                                       ['img_0_vis.png', 'img_1_vis.png'])
    for r in res:
        assert r['paths'] == [r['mask_path'], r['vis_path']]


def test_unwritable_output_raises_naming_it(small):
    """cv2.imwrite returns False without raising; a missing output now
    raises with its path."""
    inferencer, pairs, _, tmp = small
    out_dir = tmp / 'blocked'
    (out_dir / 'p0_vis.png').mkdir(parents=True)  # cannot become a file
    with pytest.raises(OSError, match=r"cannot write '.*p0_vis.png'"):
        inferencer([pairs[0][0]], prompts=pairs[1:], out_dir=str(out_dir))
    assert os.listdir(out_dir / 'p0_vis.png') == []  # no stray temp file


def test_show_displays_each_grid(small, monkeypatch):
    """``show`` puts each query's grid in a window (mmcv.imshow, BGR) for
    ``wait_time`` seconds and also returns the grids."""
    inferencer, pairs, _, _ = small
    shown = []
    monkeypatch.setattr('mmcv.imshow', lambda img, name, wait: shown.append(
        (img, wait)))
    out = inferencer([pairs[0][0], pairs[1][0]],
                     prompts=pairs[2:],
                     show=True,
                     wait_time=3,
                     batch_size=2)
    assert len(shown) == len(out['visualization']) == 2
    for (img, wait), grid in zip(shown, out['visualization']):
        assert wait == 3
        np.testing.assert_array_equal(img, grid[..., ::-1])
    assert all(p['mask_path'] is None for p in out['predictions'])
