"""The reproduction path of docs/reproduction.md, end to end on tiny files.

Tiny random-weight stand-ins of the public files are written in the
reference layouts (``checkpoint-1000.pth`` without ``vae.*``, taming's
``last.ckpt``, a released ``Seg_K_16_Fold_0.pth``, a reference top-50
JSON) next to a tiny Pascal-5i folder, in the directory layout the docs
use (``data/``, ``checkpoints/``). The two converters run as
subprocesses, the JSON is imported with ``build_retrieval_index.py
--from-json`` and ``tools/test.py`` with the Pascal-5i fold-0 N = 16
config evaluates the merged checkpoint, with only the model size and the
number of prompts overridden; the fusion weights converted alone evaluate
the same with ``load_from_allow.missing=backbone.`` (backbone from init_cfg).
"""
import copy
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import torch

from projects.prompthub.models.backbones import MAEVQGAN, TINY_MAE_VQGAN_CFG
from projects.prompthub.models.necks import LocalityFusionNeck
from projects.prompthub.testing import make_tiny_voc, write_reference_json
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEM = 'prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0'
CONFIG = osp.join(REPO, 'configs', 'prompthub', STEM + '.py')
# The converted checkpoints, named after their config.
MERGED = f'checkpoints/{STEM}.pth'
NECK_ONLY = f'checkpoints/{STEM}_neck.pth'
# LocalityFusionNeck module -> reference PromptGeneratorCut module.
TO_REFERENCE = {
    'cross_attn.': 'CrossAttention_S1.',
    'query_align.': 'SelfAttention_Q.',
    'prompt_align.': 'SelfAttention_S.',
    'label_proj.': 'Linear.',
    'norm.': 'Layer_norm.',
}


def _run(args: list, cwd: str) -> str:
    proc = subprocess.run([sys.executable, *args],
                          cwd=cwd,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'),
                          capture_output=True,
                          text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{args[0]} failed:\n{out[-6000:]}'
    return out


def _public_files(work: str) -> dict:
    """Tiny random weights in the layouts of the released files."""
    torch.manual_seed(0)
    cfg = copy.deepcopy(TINY_MAE_VQGAN_CFG)
    cfg.pop('type')
    state = MAEVQGAN(**cfg).state_dict()
    ckpts = osp.join(work, 'checkpoints')
    os.makedirs(osp.join(ckpts, 'vqgan'))
    # checkpoint-1000.pth without vae.* and taming's last.ckpt with the
    # LPIPS/discriminator entries the converter must drop.
    mae = {k: v for k, v in state.items() if not k.startswith('vae.')}
    torch.save(
        dict(model=mae, epoch=999), osp.join(ckpts, 'checkpoint-1000.pth'))
    vq = {k[4:]: v for k, v in state.items() if k.startswith('vae.')}
    vq['loss.logvar'] = torch.zeros(())
    torch.save(dict(state_dict=vq), osp.join(ckpts, 'vqgan', 'last.ckpt'))
    # A released fusion checkpoint: reference key names, D = 64.
    neck = LocalityFusionNeck(embed_dims=64, num_heads=4)
    with torch.no_grad():
        for param in neck.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    fusion = {}
    for key, value in neck.state_dict().items():
        module = next(m for m in TO_REFERENCE if key.startswith(m))
        fusion[TO_REFERENCE[module] + key[len(module):]] = value.clone()
    torch.save(
        dict(visual_prompt_dict=fusion, epoch=7, best_iou=45.93),
        osp.join(ckpts, 'Seg_K_16_Fold_0.pth'))
    return dict(mae_keys=set(mae), vq_keys=set(vq), neck=neck.state_dict())


def _find_loaders(node) -> list:
    """Every LoadVICLPair dict under a config node."""
    if isinstance(node, dict):
        found = [node] if node.get('type') == 'LoadVICLPair' else []
        return found + [t for v in node.values() for t in _find_loaders(v)]
    if isinstance(node, (list, tuple)):
        return [t for v in node for t in _find_loaders(v)]
    return []


def test_public_files_to_tools_test(tmp_path):
    work = str(tmp_path)
    info = make_tiny_voc(osp.join(work, 'data', 'VOCdevkit'))
    files = _public_files(work)

    # 1. Backbone: checkpoint-1000.pth + last.ckpt -> one MMEngine file.
    _run([
        osp.join(REPO, 'tools', 'model_converters',
                 'mae_vqgan2mmengine.py'), 'checkpoints/checkpoint-1000.pth',
        'checkpoints/mae_vqgan_mmengine.pth', '--vqgan',
        'checkpoints/vqgan/last.ckpt', '--arch', 'tiny'
    ], work)
    # 2. Released fusion weights, merged with the backbone.
    _run([
        osp.join(REPO, 'tools', 'model_converters',
                 'prompthub2mmengine.py'), 'checkpoints/Seg_K_16_Fold_0.pth',
        MERGED, '--merge', 'checkpoints/mae_vqgan_mmengine.pth'
    ], work)
    merged = torch.load(
        osp.join(work, MERGED), map_location='cpu')['state_dict']
    assert {k
            for k in merged
            if k.startswith('neck.')} == {'neck.' + k
                                          for k in files['neck']}
    assert {k[len('backbone.'):]
            for k in merged if k.startswith('backbone.')} == (
                files['mae_keys']
                | {'vae.' + k
                   for k in files['vq_keys']} - {'vae.loss.logvar'})
    for key, value in files['neck'].items():
        assert torch.equal(merged['neck.' + key], value), key

    # 3. The reference's val -> trn top-50 JSON becomes the test index.
    trn = sorted(
        {line.split('__')[0]
         for line in info['fold_lines'][('trn', 0)]})
    val = [line.split('__')[0] for line in info['fold_lines'][('val', 0)]]
    lists = {q: trn[i % 2:] + trn[:i % 2] for i, q in enumerate(val)}
    json_path = write_reference_json(
        osp.join(work, 'data', 'reference', 'folder0_top_50-similarity.json'),
        lists)
    spec = importlib.util.spec_from_file_location(
        'build_retrieval_index',
        osp.join(REPO, 'tools', 'misc', 'build_retrieval_index.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    index_path = osp.join(work, 'data', 'retrieval',
                          'pascal_fold0_val_top50.npz')
    tool.main(['--from-json', json_path, '--out', index_path])
    assert osp.isfile(index_path)

    # 4. tools/test.py with the real config; only sizes are overridden.
    vq = TINY_MAE_VQGAN_CFG['vqgan_cfg']
    overrides = [
        f'model.backbone.{k}={v}' for k, v in TINY_MAE_VQGAN_CFG.items()
        if k not in ('type', 'vqgan_cfg')
    ] + [
        f'model.backbone.vqgan_cfg.{k}={v}'
        for k, v in vq.items() if k != 'ch_mult'
    ] + [
        'model.backbone.vqgan_cfg.ch_mult=[{}]'.format(','.join(
            map(str, vq['ch_mult']))),
        'model.neck.embed_dims=64',
        'model.neck.num_heads=4',
        'model.data_preprocessor.num_prompts=2',
        'test_dataloader.dataset.num_prompts=2',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'env_cfg.dist_cfg.backend=gloo',
    ]
    out = _run([
        osp.join(REPO, 'tools', 'test.py'), CONFIG, MERGED, '--work-dir',
        'work_dirs/test', '--cfg-options', *overrides
    ], work)
    assert 'missing keys' not in out and 'unexpected key' not in out, out
    match = re.search(r'vicl/mIoU: ([0-9.]+)', out)
    assert match, out[-4000:]
    assert 0.0 <= float(match.group(1)) <= 100.0
    # Batch 8: the three val lines of fold 0 are one iteration.
    assert 'Epoch(test) [1/1]' in out
    # The config's prompt-state cache served the prompts the val queries
    # share (3 queries x 2 prompts), as CacheStatsHook logs.
    stats = re.search(
        r'prompt-state cache \(test\): 6 prompt slots, (\d+) computed, '
        r'(\d+) reused', out)
    assert stats, out[-4000:]
    assert int(stats.group(2)) > 0
    assert int(stats.group(1)) + int(stats.group(2)) == 6

    # 4b. The same evaluation reading the pairs from a pair cache: the
    # options the tool prints switch the real config, the score is equal.
    out_cache = _run([
        osp.join(REPO, 'tools', 'misc', 'build_pair_cache.py'), CONFIG,
        '--out', 'data/pair_cache', '--splits', 'test', '--cfg-options',
        'test_dataloader.dataset.num_prompts=2'
    ], work)
    options = re.search(r'read it with --cfg-options (.+)',
                        out_cache).group(1).split()
    assert options and all(
        o.endswith('cache_dir=data/pair_cache') for o in options)
    cfg = load_config(CONFIG)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in options))
    loaders = _find_loaders(cfg.test_dataloader)
    assert loaders and all(t['cache_dir'] == 'data/pair_cache'
                           for t in loaders), loaders
    out = _run([
        osp.join(REPO, 'tools', 'test.py'), CONFIG, MERGED, '--work-dir',
        'work_dirs/test_cached', '--cfg-options', *overrides, *options
    ], work)
    assert 'not in the pair cache' not in out
    cached = re.search(r'vicl/mIoU: ([0-9.]+)', out)
    assert cached and cached.group(1) == match.group(1), out[-4000:]

    # 4c. The config's prompt-state cache (on above; the val queries share
    # their prompts) changes no score: the same evaluation without it.
    assert cfg.model.prompt_state_cache is not None
    out = _run([
        osp.join(REPO, 'tools', 'test.py'), CONFIG, MERGED, '--work-dir',
        'work_dirs/test_no_state_cache', '--cfg-options', *overrides,
        'model.prompt_state_cache=None'
    ], work)
    uncached = re.search(r'vicl/mIoU: ([0-9.]+)', out)
    assert uncached and uncached.group(1) == match.group(1), out[-4000:]
    assert 'prompt-state cache' not in out

    # 4d. The fusion weights converted alone (no --merge) hold no
    # backbone: tools/test.py takes them only when told the backbone may be
    # missing, and then reads it from the config's init_cfg
    # (backbone_checkpoint) and scores as the merged file.
    _run([
        osp.join(REPO, 'tools', 'model_converters', 'prompthub2mmengine.py'),
        'checkpoints/Seg_K_16_Fold_0.pth', NECK_ONLY
    ], work)
    out = _run([
        osp.join(REPO, 'tools', 'test.py'), CONFIG, NECK_ONLY, '--work-dir',
        'work_dirs/test_neck_only', '--cfg-options', *overrides,
        'load_from_allow.missing=backbone.'
    ], work)
    assert 'init_cfg Pretrained checkpoints/mae_vqgan_mmengine.pth' in out
    neck_only = re.search(r'vicl/mIoU: ([0-9.]+)', out)
    assert neck_only and neck_only.group(1) == match.group(1), out[-4000:]

    # 5. The single-prompt MAE-VQGAN baseline runs from the converted
    # backbone alone through tools/test.py.
    baseline_overrides = [
        o for o in overrides
        if not o.startswith(('model.neck', 'model.data_preprocessor',
                             'test_dataloader.dataset.num_prompts'))
    ]
    out = _run([
        osp.join(REPO, 'tools', 'test.py'),
        osp.join(REPO, 'configs', 'maevqgan',
                 'maevqgan-n1_mae-vqgan-l16_pascal5i-fold0.py'),
        'checkpoints/mae_vqgan_mmengine.pth', '--work-dir',
        'work_dirs/baseline', '--cfg-options', *baseline_overrides
    ], work)
    assert 'missing keys' not in out and 'unexpected key' not in out, out
    match = re.search(r'vicl/mIoU: ([0-9.]+)', out)
    assert match, out[-4000:]
