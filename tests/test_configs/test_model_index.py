"""The model index lists every config once, and the README tables are
generated from it.

``model-index.yml`` imports ``configs/metafile.yaml`` (PromptHub) and
``configs/hgprompt/metafile.yaml``; the results table of ``README.md``
and the configs table of ``configs/README.md`` must equal what
``tools/misc/update_model_index_tables.py`` renders from it.
"""
import os.path as osp
import textwrap

import pytest
import yaml

from projects.prompthub.utils import load_config
from projects.prompthub.utils.model_index import (ModelIndexError, _markers,
                                                  check_model_index,
                                                  listed_configs,
                                                  load_model_index,
                                                  update_tables)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The official README's numbers (docs/method.md, section 10), transcribed
# independently of the
# metafile: released checkpoint -> published vicl/mIoU. Colourisation
# (paper numbers, not in the README): vicl/mse.
PUBLISHED = {
    'Seg_K_1_Fold_0.pth': 43.26, 'Seg_K_16_Fold_0.pth': 45.93,
    'Seg_K_1_Fold_1.pth': 50.75, 'Seg_K_16_Fold_1.pth': 53.12,
    'Seg_K_1_Fold_2.pth': 43.83, 'Seg_K_16_Fold_2.pth': 45.44,
    'Seg_K_1_Fold_3.pth': 42.82, 'Seg_K_16_Fold_3.pth': 46.74,
    'Det_K_1.pth': 44.51, 'Det_K_16.pth': 45.59,
    'Coco_K_1_Fold_0.pth': 40.36, 'Coco_K_16_Fold_0.pth': 42.69,
    'Coco_K_1_Fold_1.pth': 45.24, 'Coco_K_16_Fold_1.pth': 46.71,
    'Coco_K_1_Fold_2.pth': 40.43, 'Coco_K_16_Fold_2.pth': 41.97,
    'Coco_K_1_Fold_3.pth': 37.94, 'Coco_K_16_Fold_3.pth': 37.31,
    'Col_K_1.pth': 0.533, 'Col_K_16.pth': 0.503,
}  # yapf: disable


def test_every_config_is_listed_once_and_exists():
    """Both ways: each config under configs/ (outside _base_) has an
    entry, each entry's config exists, and each entry is complete."""
    errors = check_model_index(REPO)
    assert not errors, '\n'.join(errors)
    listed = sorted(m['Config'] for m in load_model_index(REPO))
    assert listed == listed_configs(REPO)
    assert len(listed) > 40  # PromptHub and HGPrompt


def test_readme_tables_are_generated_from_the_index():
    """The README numbers equal the metafile's: the tables between the
    markers are exactly what the index renders."""
    stale = update_tables(REPO, check=True)
    assert not stale, (
        f'{stale} differ from model-index.yml: edit the metafile, then run '
        'python tools/misc/update_model_index_tables.py')


def test_published_numbers_and_checkpoints_match_the_spec():
    """Every released checkpoint of the official README (docs/method.md,
    section 10) is reproduced by a config whose published number is the
    README's."""
    reproduced = {}
    for model in load_model_index(REPO):
        weights = (model.get('Converted From') or {}).get('Weights')
        if weights is None:
            continue
        (result, ) = model['Results']
        ((_, value), ) = result['Metrics'].items()
        assert PUBLISHED[weights] == value, (model['Name'], weights)
        reproduced.setdefault(weights, []).append(model['Name'])
    assert set(reproduced) == set(PUBLISHED)
    recipe = 'mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0'
    assert reproduced['Seg_K_16_Fold_0.pth'] == [
        'prompthub_seg', f'prompthub-n16_{recipe}',
        f'prompthub-n16-refselect_{recipe}'
    ]


def test_task_n_and_metric_match_the_configs():
    """N is the config's ``num_prompts``; the published metric is the key
    the config selects its checkpoint by."""
    for model in load_model_index(REPO):
        if model['In Collection'] != 'PromptHub':
            continue
        cfg = load_config(
            osp.join(REPO, model['Config']), import_custom_modules=False)
        assert model['Metadata']['Prompts'] == \
            cfg.model.data_preprocessor.num_prompts, model['Name']
        best = cfg.get('default_hooks', {}).get('checkpoint',
                                                {}).get('save_best')
        for result in model.get('Results', []):
            assert best is None or list(
                result['Metrics']) == [best], (model['Name'], best)


def _tiny_repo(root, models, configs=('a.py', )) -> str:
    """A repository with one metafile, the given configs and READMEs
    holding the table markers."""
    (root / 'configs').mkdir()
    for name in configs:
        (root / 'configs' / name).write_text('x = 1\n')
    (root / 'model-index.yml').write_text('Import:\n- configs/metafile.yaml\n')
    (root / 'configs' / 'metafile.yaml').write_text(
        yaml.safe_dump(dict(Models=models), sort_keys=False))
    for rel, name in (('README.md', 'results'), ('configs/README.md',
                                                 'configs')):
        begin, end = _markers(name)
        (root / rel).write_text(f'# doc\n\n{begin}\n{end}\n\ntail\n')
    return str(root)


def _model(name='a', config='configs/a.py', value=43.26, **extra) -> dict:
    model = {
        'Name':
        name,
        'In Collection':
        'PromptHub',
        'Description':
        f'config {name}',
        'Config':
        config,
        'Metadata':
        dict(Task='Few-shot Segmentation', Prompts=1),
        'Results': [
            dict(
                Task='Few-shot Segmentation',
                Dataset='Pascal-5i fold 0 val',
                Metrics={'vicl/mIoU': value})
        ],
        'Published In':
        'PromptHub README',
        'Converted From':
        dict(Weights='Seg_K_1_Fold_0.pth'),
    }
    model.update(extra)
    return model


def test_unlisted_and_missing_configs_are_named_with_the_fix(tmp_path):
    root = _tiny_repo(
        tmp_path, [_model(), _model('gone', 'configs/gone.py')],
        configs=('a.py', 'new.py'))
    errors = check_model_index(root)
    assert len(errors) == 2, errors
    missing = [e for e in errors if 'gone' in e][0]
    assert 'configs/metafile.yaml' in missing and 'configs/gone.py' in missing
    assert 'is not a file' in missing and 'fix the entry' in missing
    unlisted = [e for e in errors if 'new.py' in e][0]
    assert 'is not in the model index' in unlisted
    assert 'add a model with "Config: configs/new.py" to ' \
        'configs/metafile.yaml' in unlisted


def test_incomplete_entries_are_named(tmp_path):
    bad = _model(Metadata=dict(Task='Few-shot Segmentation'))
    bad.pop('Published In')
    root = _tiny_repo(tmp_path, [bad])
    errors = '\n'.join(check_model_index(root))
    assert "model 'a': \"Metadata.Prompts\" (N) must be a positive" in errors
    assert '"Published In"' in errors


def test_hand_edited_readme_number_is_caught_and_regenerated(tmp_path):
    root = _tiny_repo(tmp_path, [_model()])
    assert update_tables(root) == ['README.md', 'configs/README.md']
    readme = tmp_path / 'configs' / 'README.md'
    text = readme.read_text()
    assert textwrap.dedent("""\
        | `a.py` | config a | 43.26 |

        <!-- /model-index:configs -->

        tail
        """) in text
    assert '| 43.26 |' in (tmp_path / 'README.md').read_text()
    assert update_tables(root, check=True) == []
    readme.write_text(text.replace('43.26', '43.62'))
    assert update_tables(root, check=True) == ['configs/README.md']
    assert '43.62' in readme.read_text()  # --check writes nothing
    assert update_tables(root) == ['configs/README.md']
    assert readme.read_text() == text


def test_missing_markers_and_disagreeing_duplicates_fail_loudly(tmp_path):
    root = _tiny_repo(
        tmp_path, [_model(), _model('b', 'configs/b.py', 45.0)],
        configs=('a.py', 'b.py'))
    with pytest.raises(ModelIndexError, match='must agree'):
        update_tables(root)
    (tmp_path / 'configs' / 'metafile.yaml').write_text(
        yaml.safe_dump(dict(Models=[_model()])))
    (tmp_path / 'README.md').write_text('# no markers\n')
    with pytest.raises(ModelIndexError) as err:
        update_tables(root)
    assert 'README.md' in str(err.value)
    assert '<!-- /model-index:results -->' in str(err.value)


def test_tool_check_exit_code(tmp_path, capsys):
    """``--check`` exits 1 naming the stale file, without writing."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'update_model_index_tables',
        osp.join(REPO, 'tools', 'misc', 'update_model_index_tables.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = _tiny_repo(tmp_path, [_model()])
    assert tool.main(['--check', '--root', root]) == 1
    assert 'README.md' in capsys.readouterr().err
    assert tool.main(['--root', root]) == 0
    assert tool.main(['--check', '--root', root]) == 0
    assert tool.main(['--check', '--root', REPO]) == 0


def test_results_tables_split_by_task_and_data_with_ours(tmp_path):
    """One table per protocol (the folds of one protocol share it), the
    tables of one task together, rows by test split then N; "ours" is
    the ``Reproduced`` number, else 'not run'."""
    coco = dict(
        Metadata=dict(
            Task='Few-shot Segmentation',
            Prompts=1,
            **{'Training Data': 'COCO-20i fold 1 train'}),
        Results=[
            dict(
                Task='Few-shot Segmentation',
                Dataset='Pascal-5i fold 1 val',
                Metrics={'vicl/mIoU': 45.24})
        ])
    det = dict(
        Metadata=dict(Task='Single-object Detection', Prompts=16),
        Results=[
            dict(
                Task='Single-object Detection',
                Dataset='VOC val',
                Metrics={'vicl/mIoU': 45.59})
        ])
    models = [
        _model('f1n16', 'configs/f1n16.py', 53.12,
               Metadata=dict(Task='Few-shot Segmentation', Prompts=16,
                             **{'Training Data': 'Pascal-5i fold 1 train'}),
               Results=[dict(Task='Few-shot Segmentation',
                             Dataset='Pascal-5i fold 1 val',
                             Metrics={'vicl/mIoU': 53.12})],
               **{'Converted From': dict(Weights='Seg_K_16_Fold_1.pth')}),
        _model('det', 'configs/det.py', **det),
        _model('coco', 'configs/coco.py', **coco),
        _model('f0n1', 'configs/f0n1.py', 43.26,
               Metadata=dict(Task='Few-shot Segmentation', Prompts=1,
                             **{'Training Data': 'Pascal-5i fold 0 train'}),
               Reproduced=dict(Metrics={'vicl/mIoU': 43.2})),
    ]  # yapf: disable
    root = _tiny_repo(
        tmp_path, models, configs=('f1n16.py', 'det.py', 'coco.py', 'f0n1.py'))
    assert check_model_index(root) == []
    update_tables(root)
    text = (tmp_path / 'README.md').read_text()
    titles = [line for line in text.splitlines() if line.startswith('###')]
    # One section per (task, training data, test data), in metafile order.
    assert '\n'.join(titles) == (
        '### Few-shot Segmentation: trained on Pascal-5i train, tested on '
        'Pascal-5i val\n'
        '### Few-shot Segmentation: trained on COCO-20i train, tested on '
        'Pascal-5i val\n'
        '### Single-object Detection: tested on VOC val')
    pascal = text.split(titles[0])[1].split(titles[1])[0]
    rows = [line for line in pascal.splitlines() if line.startswith('| P')]
    # The fold of the first-listed model first, then N; ours where measured.
    assert rows == [
        '| PromptHub | Pascal-5i fold 1 val | 16 | 53.12 | not run | '
        '[f1n16.py](configs/f1n16.py) | `Seg_K_16_Fold_1.pth` |',
        '| PromptHub | Pascal-5i fold 0 val | 1 | 43.26 | 43.2 | '
        '[f0n1.py](configs/f0n1.py) | `Seg_K_1_Fold_0.pth` |',
    ]
    assert 'Published in: PromptHub README.' in pascal


def test_reproduced_must_match_the_published_metric(tmp_path):
    root = _tiny_repo(tmp_path,
                      [_model(Reproduced=dict(Metrics={'vicl/mse': 0.5}))])
    (error, ) = check_model_index(root)
    assert '"Reproduced.Metrics" must map the metric keys of "Results" ' \
        "(['vicl/mIoU'])" in error
    assert 'configs/metafile.yaml' in error
