"""A mistyped mode and an unreadable file fail with one message that names
the owner, the key or file, the value and what is accepted."""
import pytest
import torch

from projects.hgprompt.datasets import VTAB1kDataset
from projects.hgprompt.models import (HGGradAlignLoss, HGHScoreLoss,
                                      HGPromptClassifier, h_score, load_prompt,
                                      load_vit_checkpoint)
from projects.hgprompt.models.prompt_bank import PROMPT_FORMAT
from projects.hgprompt.models.prompt_convert import (INPUT_FORMATS,
                                                     read_foreign_prompt)
from projects.hgprompt.models.prompted_vit import VIT_FORMATS
from ._helpers import TINY_BACKBONE

FEATS, LABELS = torch.zeros(4, 2), torch.tensor([0, 0, 1, 1])


@pytest.mark.parametrize('build, owner, key, choices', [
    (lambda v: VTAB1kDataset(split=v), 'VTAB1kDataset', 'split',
     "('train800', 'val200', 'train800val200', 'test')"),
    (lambda v: HGHScoreLoss(estimator=v), 'HGHScoreLoss', 'estimator',
     "('shrinkage', 'ridge', 'trace_ratio', 'pinv')"),
    (lambda v: h_score(FEATS, LABELS, estimator=v), 'h_score', 'estimator',
     "('shrinkage', 'ridge', 'trace_ratio', 'pinv')"),
    (lambda v: HGGradAlignLoss(gar_type=v), 'HGGradAlignLoss', 'gar_type',
     "('var', 'cos')"),
    (lambda v: HGGradAlignLoss(ema_correction=v), 'HGGradAlignLoss',
     'ema_correction', "('bias', 'fishr')"),
    (lambda v: HGGradAlignLoss(var_ref=v), 'HGGradAlignLoss', 'var_ref',
     "('mean', 'composite')"),
    (lambda v: HGPromptClassifier(TINY_BACKBONE, 3, init=v),
     'HGPromptClassifier', 'init',
     "('random', 'uniform', 'source', 'file', 'ensemble', 'none')"),
    (lambda v: HGPromptClassifier(TINY_BACKBONE, 3, grad_surgery=v),
     'HGPromptClassifier', 'grad_surgery', "(None, 'pcgrad')"),
    (lambda v: HGPromptClassifier(TINY_BACKBONE, 3, weight_param=v),
     'HGPromptClassifier', 'weight_param', "('softmax', 'affine')"),
])
def test_a_mistyped_mode_names_owner_key_value_and_choices(
        build, owner, key, choices):
    with pytest.raises(ValueError) as err:
        build('typo')
    assert str(err.value) == (
        f"{owner}: {key} must be one of {choices}, got 'typo'. Set {key} to "
        'one of them.')


@pytest.mark.parametrize('read, read_as, expected', [
    (load_prompt, ' as a prompt file', PROMPT_FORMAT),
    (lambda path: load_vit_checkpoint(torch.nn.Linear(1, 1), path),
     ' as a PyTorch state dict', VIT_FORMATS),
    (read_foreign_prompt, '', INPUT_FORMATS),
])
def test_an_unreadable_file_names_itself_and_the_formats(
        tmp_path, read, read_as, expected):
    path = tmp_path / 'notes.pth'
    path.write_text('not written by torch.save')
    with pytest.raises(ValueError) as err:
        read(str(path))
    message = str(err.value)
    assert message.startswith(f'{path} could not be read{read_as} (')
    assert 'UnpicklingError' in message
    assert message.endswith(f'; expected {expected}.')
