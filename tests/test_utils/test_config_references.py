"""``${name}`` references: a child config or ``--cfg-options`` sets a key
once and every nested value that refers to it follows; bad references
fail naming the key and the fix."""
import os.path as osp
import textwrap

import pytest
from mmengine.config import Config

import projects.prompthub  # noqa: F401
from projects.prompthub.datasets.pascal5i import fold_class_ids
from projects.prompthub.registry import RUNNERS
from projects.prompthub.utils import (CfgOptionError, ConfigReferenceError,
                                      apply_cfg_options, load_config,
                                      resolve_config_references)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG = ('configs/prompthub/prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_'
       'pascal5i-fold{}.py')
TINY = ('configs/prompthub/'
        'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')


def _cfg(**values) -> Config:
    return Config(values, cfg_text='# demo', filename='demo_cfg.py')


def test_whole_and_pasted_references_resolve_through_a_chain():
    cfg = _cfg(
        fold=2,
        index='pascal_fold${fold}_trn.npz',
        loader=dict(
            dataset=dict(fold='${fold}', index='${index}'),
            sizes=('${fold}', 3),
            pipeline=[dict(size='${fold}')]),
        same_loader='${loader}')
    resolve_config_references(cfg)
    assert cfg.loader.dataset == dict(fold=2, index='pascal_fold2_trn.npz')
    assert cfg.loader.sizes == (2, 3)
    assert cfg.loader.pipeline == [dict(size=2)]
    # A whole reference is the value itself (a copy, not the same dict).
    assert cfg.same_loader == cfg.loader
    assert cfg.same_loader is not cfg.loader
    assert isinstance(cfg.loader.dataset.fold, int)
    text = cfg.pretty_text
    resolve_config_references(cfg)  # idempotent
    assert cfg.pretty_text == text and '${' not in text


def test_explicit_values_are_left_alone():
    cfg = _cfg(fold=1, a=dict(fold=3), b=dict(fold='${fold}'))
    resolve_config_references(cfg)
    assert (cfg.a.fold, cfg.b.fold) == (3, 1)


@pytest.mark.parametrize(
    'values, words',
    [(dict(a=dict(b='${nope}')), [
        'demo_cfg.py', "a.b='${nope}'", '`nope`', 'nope = ...',
        '--cfg-options nope=VALUE'
    ]), (dict(x='${y}', y='${x}'), ['cycle', 'x -> y -> x']),
     (dict(d=dict(k=1), s='path/${d}.npz'),
      ["s='path/${d}.npz'", '`d` (ConfigDict)', "s='${d}' alone"])])
def test_bad_references_name_the_key_and_the_fix(values, words):
    with pytest.raises(ConfigReferenceError) as err:
        resolve_config_references(_cfg(**values))
    for word in words:
        assert word in str(err.value)


def test_a_child_config_sets_the_fold_once(tmp_path):
    """The fold-k configs state only ``fold = k``: every dataset, both
    retrieval datasets and every index path follow."""
    for fold in range(4):
        cfg = load_config(osp.join(REPO, SEG.format(fold)))
        assert cfg.fold == fold
        loaders = [
            cfg[k].dataset
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
        ]
        folds = {
            loaders[0].dataset.dataset.fold, loaders[1].dataset.dataset.fold,
            loaders[1].prompt_dataset.dataset.fold, loaders[2].dataset.fold,
            loaders[2].prompt_dataset.fold, cfg.retrieval.query_dataset.fold,
            cfg.retrieval.candidate_dataset.fold
        }
        assert folds == {fold}
        assert [d.index for d in loaders] == [
            f'data/retrieval/pascal_fold{fold}_trn_top50.npz',
            f'data/retrieval/pascal_fold{fold}_trn_top50.npz',
            f'data/retrieval/pascal_fold{fold}_val_top50.npz'
        ]
        assert cfg.retrieval.out == loaders[0].index
        assert {d.num_prompts for d in loaders} == {16}
        assert cfg.model.data_preprocessor.num_prompts == 16


def test_cfg_options_set_a_referenced_key_everywhere():
    cfg = Config.fromfile(osp.join(REPO, SEG.format(0)))
    apply_cfg_options(cfg, {'fold': 3, 'num_prompts': 1})
    assert cfg.test_dataloader.dataset.dataset.fold == 3
    assert cfg.test_dataloader.dataset.index.endswith('fold3_val_top50.npz')
    assert cfg.train_dataloader.dataset.num_prompts == 1
    assert cfg.model.data_preprocessor.num_prompts == 1
    # A nested key given explicitly wins over the reference.
    cfg = Config.fromfile(osp.join(REPO, SEG.format(0)))
    apply_cfg_options(cfg, {'fold': 3, 'retrieval.query_dataset.fold': 1})
    assert cfg.retrieval.query_dataset.fold == 1
    assert cfg.retrieval.candidate_dataset.fold == 3


def test_an_unresolved_reference_fails_where_it_is_used():
    with pytest.raises(ValueError) as err:
        fold_class_ids('${fold}')
    assert 'config reference' in str(err.value)
    assert 'resolve_config_references' in str(err.value)


def test_the_runner_resolves_a_config_loaded_by_another_tool(tmp_path):
    """mmseg's tools/train.py loads with a bare ``Config.fromfile`` and
    builds our ``runner_type``: the runner resolves the references."""
    child = tmp_path / 'child.py'
    child.write_text(
        textwrap.dedent(f"""\
        _base_ = '{osp.join(REPO, TINY)}'
        epochs = 1
        train_cfg = dict(max_epochs='${{epochs}}')
        work_dir = '{tmp_path / 'work'}'
        """))
    cfg = Config.fromfile(str(child))
    assert cfg.train_cfg.max_epochs == '${epochs}'
    runner = RUNNERS.build(cfg)
    assert runner.cfg.train_cfg.max_epochs == 1
    assert runner.train_loop.max_epochs == 1
    assert cfg.train_cfg.max_epochs == '${epochs}'  # the caller's copy


@pytest.mark.parametrize(
    'value', ['${model.num_classes}', '${ fold }', '${1x}', 'a_${fold'])
def test_a_malformed_reference_is_refused(value):
    with pytest.raises(ConfigReferenceError, match='is not a reference'):
        resolve_config_references(_cfg(fold=1, a=dict(b=value)))


def test_a_top_level_variable_nothing_reads_is_refused():
    """``data_root = ...`` of a base that writes ``data_root=data_root``
    was copied when the file was read: setting it would change nothing,
    so it is refused, naming where the value went."""
    cfg = Config.fromfile(osp.join(REPO, SEG.format(0)))
    with pytest.raises(CfgOptionError) as err:
        apply_cfg_options(cfg, {'trn_set.fold': 2})
    assert '`trn_set` is a top-level variable' in str(err.value)
    assert "'${trn_set}'" in str(err.value)
    assert '+trn_set.fold=2' in str(err.value)
    # With the config resolved, `fold` is such a variable too: a second
    # merge cannot silently miss the datasets.
    resolved = load_config(osp.join(REPO, SEG.format(0)))
    with pytest.raises(CfgOptionError) as err:
        apply_cfg_options(resolved, {'fold': 2})
    assert '`fold` is a top-level variable' in str(err.value)
    # Keys that something reads merge as before.
    apply_cfg_options(resolved, {'randomness.seed': 3, '+trn_set.fold': 2})
    assert (resolved.randomness.seed, resolved.trn_set.fold) == (3, 2)


def test_a_copied_value_names_where_it_went(tmp_path):
    child = tmp_path / 'child.py'
    child.write_text(
        textwrap.dedent("""\
        root = 'data/some/root'
        loader = dict(dataset=dict(data_root=root))
        train_dataloader = dict(dataset=dict(data_root=root))
        """))
    with pytest.raises(CfgOptionError) as err:
        apply_cfg_options(Config.fromfile(str(child)), {'root': '/x'})
    assert ('copied to train_dataloader.dataset.data_root; set those keys '
            'instead') in str(err.value)
