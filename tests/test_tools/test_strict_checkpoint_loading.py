"""Wrong weights are refused: tools/test.py, load_from, resume, infer.

Every path that loads a checkpoint into a whole model (the runner of our
configs for ``load_from``/``tools/test.py``/``tools/train.py``, and
:class:`PromptHubInferencer` for ``tools/infer.py``) loads it exactly or
raises an error that names the file, the keys and the fix. A file that
holds part of the model on purpose (a neck-only conversion) needs the
explicit ``load_from_allow`` option, and the missing part must have weights
of its own. The runners are built as the tools build them
(``RUNNERS.build``), so these tests run unchanged against the original
code, where they fail.
"""
import glob
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

from projects.prompthub.apis import PromptHubInferencer
from projects.prompthub.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'prompthub',
                       'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')
DEMO_CONFIG = osp.join(
    REPO, 'configs', 'prompthub',
    'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py')
TINY_BACKBONE = osp.join('projects', 'prompthub', 'weights',
                         'tiny_vicl_fold0.pth')
CONVERTER = osp.join(REPO, 'tools', 'model_converters',
                     'prompthub2mmengine.py')


def _cfg(tmp_path, name='run', **options) -> Config:
    """The tiny config with one test batch of two queries."""
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.merge_from_dict({
        'test_dataloader.dataset.num_samples': 2,
        'test_dataloader.batch_size': 2,
        **options
    })
    cfg.work_dir = str(tmp_path / name)
    return cfg


def _build(cfg: Config):
    """The runner tools/test.py and tools/train.py build."""
    return RUNNERS.build(cfg) if 'runner_type' in cfg else \
        Runner.from_cfg(cfg)


def _tiny_state(seed: int = 0) -> dict:
    """A full state dict of the tiny config's model (random weights)."""
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    model = MODELS.build(Config.fromfile(TINY_CONFIG).model)
    with torch.no_grad():
        for param in model.neck.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model.state_dict()


def _save(path, state: dict, **extra) -> str:
    torch.save(dict(state_dict=state, **extra), str(path))
    return str(path)


def _assert_same_weights(model, state: dict, prefix: str = '') -> None:
    own = model.state_dict()
    keys = [k for k in state if k.startswith(prefix)]
    assert keys
    for key in keys:
        assert torch.equal(own[key], state[key]), key


def test_unrelated_checkpoint_fails_tools_test(tmp_path):
    """The issue's example: a backbone-only file of another architecture
    (0 matching keys) used to evaluate a random model and exit 0."""
    proc = subprocess.run([
        sys.executable, 'tools/test.py', TINY_CONFIG, TINY_BACKBONE,
        '--work-dir',
        str(tmp_path / 'test')
    ],
                          cwd=REPO,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode != 0, proc.stdout[-3000:]
    err = proc.stderr
    assert TINY_BACKBONE in err
    assert '0 of the model' in err
    assert 'backbone.cls_token' in err and 'missing keys (' in err
    assert 'cell_pos' in err and 'unexpected keys (' in err
    assert 'load_from_allow' in err  # the fix for a deliberate partial file
    assert 'vicl/mIoU' not in proc.stdout + err


def test_matching_checkpoint_scores_as_before(tmp_path):
    """The exact loader changes no number: the same metrics as mmengine's
    own Runner, and the weights are those of the file."""
    state = _tiny_state()
    ckpt = _save(tmp_path / 'full.pth', state, meta=dict(epoch=1))
    runner = _build(_cfg(tmp_path, 'ours', load_from=ckpt))
    ours = runner.test()
    _assert_same_weights(runner.model, state)
    plain = Runner.from_cfg(_cfg(tmp_path, 'plain', load_from=ckpt)).test()
    assert ours == plain
    assert 'vicl/mIoU' in ours


def _break(state: dict, kind: str) -> tuple:
    """A copy of ``state`` with one fault, and what the error must name."""
    state = dict(state)
    if kind == 'shape':
        state['neck.norm.weight'] = torch.ones(8)
        return state, ['neck.norm.weight', '(8,)', '(64,)', 'shape']
    if kind == 'missing':
        del state['neck.label_proj.bias']
        return state, ['neck.label_proj.bias', 'missing keys (1)']
    if kind == 'unexpected':
        state['neck.extra.weight'] = torch.zeros(3)
        return state, ['neck.extra.weight', 'unexpected keys (1)']
    state['backbone.cls_token'] = 'not a tensor'
    return state, ['backbone.cls_token', 'not a tensor']


@pytest.mark.parametrize('kind',
                         ['shape', 'missing', 'unexpected', 'not_tensor'])
def test_one_wrong_key_is_named(tmp_path, kind):
    state, names = _break(_tiny_state(), kind)
    ckpt = _save(tmp_path / f'{kind}.pth', state)
    with pytest.raises(RuntimeError) as err:
        _build(_cfg(tmp_path, load_from=ckpt)).test()
    msg = str(err.value)
    assert ckpt in msg and 'Fix:' in msg
    for name in names:
        assert name in msg


def test_wrong_load_from_stops_training(tmp_path):
    """tools/train.py's route: ``load_from`` is checked before step one."""
    state, _ = _break(_tiny_state(), 'shape')
    ckpt = _save(tmp_path / 'init.pth', state)
    runner = _build(_cfg(tmp_path, load_from=ckpt))
    with pytest.raises(RuntimeError, match='neck.norm.weight'):
        runner.train()
    assert runner.iter == 0


def _bad_file(tmp_path, kind: str) -> str:
    path = tmp_path / f'{kind}.pth'
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        _save(path, _tiny_state())
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    else:
        path.write_bytes(b'PK\x03\x04 not a checkpoint at all' * 10)
    return str(path)


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'garbage'])
def test_unreadable_checkpoint_is_named(tmp_path, kind):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(RuntimeError) as err:
        _build(_cfg(tmp_path, load_from=path)).test()
    msg = str(err.value)
    assert path in msg and 'Fix:' in msg
    assert ('0 bytes' if kind == 'empty' else 'truncated or corrupt') in msg


def test_unreadable_resume_checkpoint_is_named(tmp_path):
    path = _bad_file(tmp_path, 'truncated')
    runner = _build(_cfg(tmp_path, load_from=path, resume=True))
    # SafeCheckpointHook checks an explicit resume file before the runner
    # loads it: the error names the file and the way out.
    with pytest.raises(
            RuntimeError,
            match=r'Cannot resume from .*truncated\.pth.*--resume'):
        runner.train()


def _load_converter():
    spec = importlib.util.spec_from_file_location('prompthub2mmengine',
                                                  CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _neck_only_file(tmp_path, state: dict) -> str:
    """What prompthub2mmengine.py writes without --merge."""
    converter = _load_converter()
    to_reference = {ours: ref for ref, ours in converter.MODULE_MAP.items()}
    reference = {}
    for key, value in state.items():
        if key.startswith('neck.'):
            key = key[len('neck.'):]
            module = next(m for m in to_reference if key.startswith(m))
            reference[to_reference[module] + key[len(module):]] = value
    src = tmp_path / 'Seg_K_2_Fold_0.pth'
    torch.save(dict(visual_prompt_dict=reference), str(src))
    dst = str(tmp_path / 'neck_only.pth')
    converter.main([str(src), dst])
    return dst


def test_neck_only_checkpoint_needs_the_option_and_a_backbone(tmp_path):
    """A neck-only conversion loads only with ``load_from_allow`` and a
    backbone that loads its own weights (here its init_cfg), and then
    scores as the merged file does."""
    state = _tiny_state(seed=1)
    neck_only = _neck_only_file(tmp_path, state)
    merged = _save(tmp_path / 'merged.pth', state)
    backbone = _save(tmp_path / 'backbone.pth', {
        k: v
        for k, v in state.items() if k.startswith('backbone.')
    })
    init_cfg = dict(type='Pretrained', checkpoint=backbone, prefix='backbone.')
    allow = {'load_from_allow.missing': ['backbone.']}

    # Not the default: the missing backbone is named with the option.
    with pytest.raises(RuntimeError) as err:
        _build(
            _cfg(
                tmp_path,
                'a',
                load_from=neck_only,
                **{'model.backbone.init_cfg': init_cfg})).test()
    msg = str(err.value)
    assert neck_only in msg and 'backbone.cls_token' in msg
    assert 'load_from_allow.missing' in msg
    # The option alone is not enough: this backbone has no weights.
    with pytest.raises(RuntimeError, match='would stay random'):
        _build(_cfg(tmp_path, 'b', load_from=neck_only, **allow)).test()

    # Option + init_cfg: tools/test.py (no init_weights of its own) gets
    # the backbone from init_cfg and the neck from the file.
    runner = _build(
        _cfg(
            tmp_path,
            'c',
            load_from=neck_only,
            **{'model.backbone.init_cfg': init_cfg},
            **allow))
    partial = runner.test()
    _assert_same_weights(runner.model, state)
    full = _build(_cfg(tmp_path, 'd', load_from=merged)).test()
    assert partial == full


def _demo_neck_only(tmp_path) -> tuple:
    """The demo model (backbone loaded by its constructor), neck-only."""
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DEMO_CONFIG).model)
    with torch.no_grad():
        for param in model.neck.parameters():
            param.add_(0.01)
    state = model.state_dict()
    neck = {k: v for k, v in state.items() if k.startswith('neck.')}
    return _save(tmp_path / 'demo_neck.pth', neck), state


def test_inferencer_refuses_partial_without_option(tmp_path):
    ckpt, state = _demo_neck_only(tmp_path)
    with pytest.raises(RuntimeError) as err:
        PromptHubInferencer(DEMO_CONFIG, ckpt)
    assert ckpt in str(err.value) and 'backbone.' in str(err.value)
    # The backbone is loaded by its constructor (tiny_vicl_fold0.pth).
    inferencer = PromptHubInferencer(
        DEMO_CONFIG, ckpt, load_from_allow=dict(missing=['backbone.']))
    _assert_same_weights(inferencer.model, state)
    # The config's own load_from_allow is read when none is passed.
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.load_from_allow = dict(missing='backbone.')
    _assert_same_weights(PromptHubInferencer(cfg, ckpt).model, state)


@pytest.mark.parametrize('kind', ['empty', 'truncated'])
def test_inferencer_names_unreadable_weights(tmp_path, kind):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(RuntimeError) as err:
        PromptHubInferencer(TINY_CONFIG, path)
    assert path in str(err.value) and 'Fix:' in str(err.value)


def test_wrong_model_file_fails_inferencer(tmp_path):
    with pytest.raises(RuntimeError, match='0 of the model'):
        PromptHubInferencer(TINY_CONFIG, TINY_BACKBONE)


def test_every_config_loads_exactly():
    """Every runnable config (HGPrompt too) selects the exact runner."""
    paths = [
        p for p in glob.glob(
            osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in p
    ]
    assert len(paths) > 40
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.get('runner_type') == 'StrictLoadRunner', path
        assert cfg.get('load_from_allow') == dict(
            missing=[], unexpected=[]), path
