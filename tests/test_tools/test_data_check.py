"""Missing data is reported by config key before the model is built."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from projects.prompthub.datasets import check_data_paths
from projects.prompthub.testing import make_tiny_voc
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = osp.join(
    REPO, 'configs', 'prompthub',
    'prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py')


@pytest.fixture
def seg_cfg(tmp_path):
    """The fold-0 config pointed at a tiny Pascal-5i copy and dummy
    retrieval indices (only their existence is checked)."""
    root = str(tmp_path / 'voc')
    make_tiny_voc(root)
    index = str(tmp_path / 'index.npz')
    open(index, 'w').close()
    cfg = load_config(SEG_CONFIG)
    cfg.merge_from_dict({
        'train_dataloader.dataset.dataset.dataset.data_root':
        root,
        'train_dataloader.dataset.index':
        index,
        'val_dataloader.dataset.dataset.dataset.data_root':
        root,
        'val_dataloader.dataset.prompt_dataset.dataset.data_root':
        root,
        'val_dataloader.dataset.index':
        index,
        'test_dataloader.dataset.dataset.data_root':
        root,
        'test_dataloader.dataset.prompt_dataset.data_root':
        root,
        'test_dataloader.dataset.index':
        index,
    })
    return cfg, root, index


def test_present_data_passes(seg_cfg):
    cfg, _, _ = seg_cfg
    check_data_paths(cfg, 'train')
    check_data_paths(cfg, 'test')


def test_missing_root_index_and_split_file_are_named(seg_cfg, tmp_path):
    cfg, root, index = seg_cfg
    gone = str(tmp_path / 'nowhere')
    cfg.test_dataloader.dataset.prompt_dataset.data_root = gone
    os.remove(index)
    # The default split file of the val set (computed from fold/split).
    split = osp.join(root, 'splits', 'pascal', 'val', 'fold0.txt')
    os.remove(split)
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, 'test')
    msg = str(err.value)
    for key, path in (
        ('test_dataloader.dataset.prompt_dataset.data_root', gone),
        ('test_dataloader.dataset.index', index),
        ('test_dataloader.dataset.dataset.ann_file', split),
    ):
        assert key in msg and repr(path) in msg, (key, msg)
    assert 'build_retrieval_index.py' in msg
    assert 'docs/reproduction.md' in msg
    assert '3 missing' in msg


def test_wrapped_training_sets_and_prefix_folders_are_walked(seg_cfg):
    cfg, root, _ = seg_cfg
    masks = osp.join(root, 'VOC2012', 'SegmentationClassAug')
    os.rename(masks, masks + '_moved')
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(cfg, 'train')
    msg = str(err.value)
    # One path, reached through RetrievalAugmentedDataset > HoldoutSubset
    # in the train and val dataloaders.
    assert '1 missing' in msg and repr(masks) in msg
    for key in ('train_dataloader.dataset.dataset.dataset',
                'val_dataloader.dataset.dataset.dataset',
                'val_dataloader.dataset.prompt_dataset.dataset'):
        assert f'{key}.data_prefix.seg_map_path' in msg, key


def test_tools_test_fails_before_building_the_model(tmp_path):
    gone = str(tmp_path / 'no_voc_here')
    proc = subprocess.run([
        sys.executable, 'tools/test.py', SEG_CONFIG,
        str(tmp_path / 'some.pth'), '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'test_dataloader.dataset.dataset.data_root={gone}',
        f'test_dataloader.dataset.prompt_dataset.data_root={gone}'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode != 0
    assert 'test_dataloader.dataset.dataset.data_root' in proc.stderr
    assert repr(gone) in proc.stderr
    assert 'docs/reproduction.md' in proc.stderr
    # The Runner (which builds the 400M-parameter model first) never
    # started: it logs the environment and the config before anything.
    out = proc.stdout + proc.stderr
    assert 'System environment' not in out and 'Config:' not in out
