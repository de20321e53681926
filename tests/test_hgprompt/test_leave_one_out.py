"""Leave-one-out source banks: the target's own prompt is left out by
name, explicit source lists, and the refusal of a source trained on the
target's folder."""
import logging
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config

from projects.hgprompt.engine import HGSourceOverlapHook
from projects.hgprompt.models import load_prompt_bank, prompt_bank, save_prompt
from ._helpers import tiny_classifier

TASKS = ('dtd', 'eurosat', 'svhn')


@pytest.fixture
def bank(tmp_path):
    gen = torch.Generator().manual_seed(0)
    for task in TASKS:
        save_prompt(
            str(tmp_path / 'bank' / f'{task}.pth'),
            torch.randn(2, 2, 32, generator=gen),
            task=task,
            data_root=str(tmp_path / 'data' / task))
    return str(tmp_path / 'bank')


def test_target_prompt_is_left_out_by_name(bank):
    prompts, names = load_prompt_bank(bank, target_task='eurosat')
    full, _ = load_prompt_bank(bank)
    assert names == ['dtd', 'svhn']
    assert torch.equal(prompts, full[[0, 2]])
    model = tiny_classifier(bank, target_task='svhn')
    assert model.source_names == ['dtd', 'eurosat']
    assert model.weight_logits.shape == (2, )
    assert [m['task'] for m in model.source_meta] == ['dtd', 'eurosat']


def test_explicit_sources_and_refusals(bank, tmp_path):
    prompts, names = load_prompt_bank(
        bank, target_task='dtd', sources=['svhn', 'eurosat'])
    full, _ = load_prompt_bank(bank)
    assert names == ['svhn', 'eurosat']
    assert torch.equal(prompts, full[[2, 1]])
    with pytest.raises(ValueError, match="lists the target task 'dtd'"):
        load_prompt_bank(bank, target_task='dtd', sources=['dtd', 'svhn'])
    with pytest.raises(ValueError, match=r"names \['kitti'\]"):
        load_prompt_bank(bank, sources=['kitti'])
    save_prompt(str(tmp_path / 'one' / 'dtd.pth'), torch.zeros(2, 2, 32))
    with pytest.raises(ValueError, match='no source prompt left'):
        load_prompt_bank(str(tmp_path / 'one'), target_task='dtd')
    save_prompt(
        str(tmp_path / 'bank' / 'dtd_copy.pth'),
        torch.zeros(2, 2, 32),
        task='dtd')
    with pytest.raises(ValueError, match="both prompts of task 'dtd'"):
        load_prompt_bank(bank)


def test_no_target_task_warns(bank, monkeypatch):
    logged = []
    monkeypatch.setattr(prompt_bank, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw)))
    _, names = load_prompt_bank(bank)
    assert names == list(TASKS)
    (msg, kwargs), = logged
    assert 'model.target_task is not set' in msg
    assert kwargs['level'] == logging.WARNING
    logged.clear()
    load_prompt_bank(bank, target_task='svhn')
    assert "'svhn'" in logged[0][0] and 'not used' in logged[0][0]


def _runner(model, data_root):
    messages = []
    cfg = Config(
        dict(train_dataloader=dict(dataset=dict(data_root=data_root))))
    return SimpleNamespace(
        model=model, cfg=cfg,
        logger=SimpleNamespace(warning=messages.append)), messages


def test_overlap_hook_refuses_a_source_trained_on_the_target_folder(
        bank, tmp_path):
    # a prompt of dtd's images saved under another task name
    save_prompt(
        str(tmp_path / 'bank' / 'renamed.pth'),
        torch.zeros(2, 2, 32),
        task='renamed',
        data_root=str(tmp_path / 'data' / 'dtd'))
    model = tiny_classifier(bank, target_task='dtd', init='uniform')
    assert 'dtd' not in model.source_names  # excluded by name ...
    runner, messages = _runner(model, str(tmp_path / 'data' / 'dtd'))
    with pytest.raises(ValueError) as err:  # ... the copy by its folder
        HGSourceOverlapHook().before_train(runner)
    assert "'renamed'" in str(err.value) and 'renamed.pth' in str(err.value)
    HGSourceOverlapHook(action='warn').before_train(runner)
    assert len(messages) == 1 and 'not leave-one-out' in messages[0]
    # another target: no clash
    runner, _ = _runner(model, str(tmp_path / 'data' / 'kitti'))
    HGSourceOverlapHook().before_train(runner)
