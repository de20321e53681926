"""Our components resolve from mmseg/mmdet scopes, and theirs from ours."""
import pytest
from mmengine.config import Config
from mmengine.registry import METRICS as ROOT_METRICS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope, init_default_scope

import projects.prompthub  # noqa: F401  (registers the components)

OUR_CUSTOM_IMPORTS = dict(
    imports=['projects.prompthub'], allow_failed_imports=False)


def _scope(name: str):
    """Context in which ``name`` is the default scope, as in a Runner."""
    return DefaultScope.overwrite_default_scope(name)


def test_our_config_resolves_mmseg_components():
    """Our runtime (default_scope='mmseg') builds mmseg's and ours."""
    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    assert cfg.default_scope == 'mmseg'
    init_default_scope(cfg.default_scope)
    metric = ROOT_METRICS.build(dict(type='IoUMetric', iou_metrics=['mIoU']))
    assert type(metric).__module__.startswith('mmseg.')
    hook = _build_hook(dict(type='RNGStateHook'))
    assert type(hook).__name__ == 'RNGStateHook'
    preprocessor = ROOT_MODELS.build(dict(type='VICLDataPreprocessor'))
    assert type(preprocessor).__module__.startswith('projects.prompthub')


def _build_hook(cfg: dict):
    from mmengine.registry import HOOKS
    return HOOKS.build(cfg)


def test_plain_mmseg_config_resolves_our_components():
    """An mmseg config that only adds custom_imports finds our names."""
    from mmseg.registry import METRICS, MODELS
    cfg = Config(
        dict(
            default_scope='mmseg',
            custom_imports=OUR_CUSTOM_IMPORTS,
            val_evaluator=[
                dict(type='IoUMetric', iou_metrics=['mIoU']),
                dict(type='VICLIoUMetric')
            ],
            data_preprocessor=dict(type='VICLDataPreprocessor')))
    with _scope('mmseg'):
        built = [METRICS.build(m) for m in cfg.val_evaluator]
        assert [type(m).__name__
                for m in built] == ['IoUMetric', 'VICLIoUMetric']
        assert type(MODELS.build(cfg.data_preprocessor)).__name__ == \
            'VICLDataPreprocessor'


def test_plain_mmdet_config_resolves_our_components():
    """An mmdet config (default_scope='mmdet') needs no mmseg prefix."""
    # mmdet is the optional [det] extra; tools/setup_env.sh installs it.
    pytest.importorskip('mmdet', reason='pip install .[det]')
    from mmdet.registry import METRICS, MODELS, TRANSFORMS
    with _scope('mmdet'):
        assert type(METRICS.build(dict(type='VICLIoUMetric'))).__name__ \
            == 'VICLIoUMetric'
        assert type(MODELS.build(
            dict(type='VICLDataPreprocessor'))).__name__ == \
            'VICLDataPreprocessor'
        # mmdet's own components keep working next to ours.
        assert type(TRANSFORMS.build(
            dict(type='LoadAnnotations', with_bbox=True))).__module__ \
            .startswith('mmdet.')
        assert type(TRANSFORMS.build(dict(type='PackVICLInputs'))).__name__ \
            == 'PackVICLInputs'


def test_unknown_name_still_fails_clearly():
    with _scope('mmseg'), pytest.raises(KeyError, match='NoSuchNeck'):
        ROOT_MODELS.build(dict(type='NoSuchNeck'))


def _run_python(code: str) -> str:
    """stdout of ``python -c code`` in a fresh interpreter."""
    import subprocess
    import sys
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          check=True).stdout.strip()


def test_prompthub_does_not_import_hgprompt():
    """The two methods are separate projects: importing PromptHub (in a
    fresh interpreter) loads no HGPrompt module; HGPrompt imports alone."""
    assert _run_python(
        'import sys, projects.prompthub; '
        'print(sorted(m for m in sys.modules if "hgprompt" in m))') == '[]'
    assert _run_python('import projects.hgprompt as h; '
                       'print(h.HGPromptClassifier.__module__)'
                       ) == 'projects.hgprompt.models.classifier'
