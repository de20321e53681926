"""The inferencer predicts what tools/test.py predicts, bit for bit.

A tiny Pascal-5i tree and a config of the real layout (``pascal5i.py``
base, a retrieval index, a small PromptHub) are evaluated by
``tools/test.py`` in a subprocess, with mmengine's ``DumpResults`` as the
test evaluator so that every prediction is saved. The same episodes, given
to ``PromptHubInferencer`` as files (the query image and the prompt
images with binary masks, or with the label-id masks and their class; or
through the index and a candidates file), must give the same predicted
cells. The inferencer used to resize with OpenCV bilinear while the test
pipeline uses PIL bicubic, so the model saw other pixels.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope
from PIL import Image

from projects.prompthub.apis import PromptHubInferencer
from projects.prompthub.registry import MODELS
from projects.prompthub.testing import make_tiny_voc, write_reference_json

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Fold-0 val queries -> trn candidate names (the prompt rule 'last' then
# takes each image's last fold-0 class).
INDEX = {
    '2007_000033': ['2007_000063', '2007_000032', '2007_000121'],
    '2007_000042': ['2007_000068', '2007_000129', '2007_000039'],
}

CONFIG = '''
_base_ = ['{repo}/configs/_base_/default_runtime.py',
          '{repo}/configs/_base_/datasets/pascal5i.py']
model = dict(
    type='PromptHub',
    data_preprocessor=dict(type='VICLDataPreprocessor', num_prompts=2),
    backbone=dict(type='TinyVICLBackbone', embed_dim=32, depth=1,
                  num_heads=2, head_dim=8),
    neck=dict(type='LocalityFusionNeck', embed_dims=224, num_heads=2),
    losses=[dict(type='PredictionLoss')],
    binarize='threshold')
test_dataloader = dict(
    batch_size={batch_size},
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        index='{index}',
        num_prompts=2,
        dataset=dict(data_root='{root}'),
        prompt_dataset=dict(data_root='{root}')))
test_evaluator = dict(
    _delete_=True, type='DumpResults', out_file_path='{dump}')
env_cfg = dict(dist_cfg=dict(backend='gloo'))
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
'''


@pytest.fixture(scope='module')
def evaluated(tmp_path_factory):
    """tools/test.py's predictions on the tiny tree, and the files."""
    work = tmp_path_factory.mktemp('match')
    root = str(work / 'VOCdevkit')
    make_tiny_voc(root)
    cfg_path = str(work / 'tiny_pascal.py')
    dump = str(work / 'preds.pkl')
    index = write_reference_json(str(work / 'top50.json'), INDEX)
    with open(cfg_path, 'w') as f:
        f.write(
            CONFIG.format(
                repo=REPO, root=root, index=index, dump=dump, batch_size=2))
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    with torch.no_grad():
        for param in model.neck.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    ckpt = str(work / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'test.py'), cfg_path, ckpt, '--work-dir',
        str(work / 'test')
    ],
                          cwd=str(work),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    preds = load(dump)
    assert len(preds) == 3  # 2007_000033 (classes 1, 2) and 2007_000042
    return dict(
        work=work,
        root=root,
        cfg=cfg_path,
        ckpt=ckpt,
        preds=preds,
        index=index)


def _label_masks(evaluated, pred) -> list:
    """The episode's prompt masks as the dataset stores them."""
    return [
        osp.join(evaluated['root'], 'VOC2012', 'SegmentationClassAug',
                 f'{name}.png') for name in pred['prompt_names']
    ]


def _binary_masks(evaluated, pred) -> list:
    """The episode's prompt masks as 0/255 PNGs (what a user has)."""
    files = []
    for mask_path, class_id in zip(
            _label_masks(evaluated, pred), pred['prompt_class_ids']):
        labels = np.asarray(Image.open(mask_path))
        out = osp.join(evaluated['work'],
                       f'{osp.basename(mask_path)[:-4]}_{class_id}_fg.png')
        Image.fromarray(
            (labels == class_id + 1).astype(np.uint8) * 255).save(out)
        files.append(out)
    return files


def _cells(evaluated, pred) -> np.ndarray:
    return pred['pred_sem_seg']['data'][0].numpy()


def test_prompts_as_files_predict_what_test_py_predicts(evaluated):
    inferencer = PromptHubInferencer(
        evaluated['cfg'], evaluated['ckpt'], device='cpu')
    for pred in evaluated['preds']:
        masks = _binary_masks(evaluated, pred)
        binary = list(zip(pred['prompt_paths'], masks))
        label_ids = [(img, seg, cls + 1) for img, seg, cls in zip(
            pred['prompt_paths'], _label_masks(evaluated, pred),
            pred['prompt_class_ids'])]
        for prompts in (binary, label_ids):
            out = inferencer(
                pred['img_path'], prompts=prompts, return_datasamples=True)
            sample = out['predictions'][0]
            np.testing.assert_array_equal(sample.pred_sem_seg.data[0].numpy(),
                                          _cells(evaluated, pred))
            np.testing.assert_array_equal(sample.pred_label_img.data.numpy(),
                                          pred['pred_label_img']['data'])
            assert sample.ori_shape == pred['ori_shape']
        # The plain output: the same cell, at the query's size.
        res = inferencer(pred['img_path'], prompts=binary)
        mask = res['predictions'][0]['mask']
        assert mask.shape == tuple(pred['ori_shape'])
        assert res['predictions'][0]['pred_label_img'].shape == (111, 111, 3)


def test_index_route_predicts_what_test_py_predicts(evaluated):
    """Prompts looked up in the index by file stem, read from a
    candidates file: the same prompts, the same predictions (batched)."""
    root = evaluated['root']
    pool = {}
    for pred in evaluated['preds']:
        for name, img, mask in zip(pred['prompt_names'], pred['prompt_paths'],
                                   _binary_masks(evaluated, pred)):
            pool[name] = [
                osp.relpath(img, evaluated['work']),
                osp.relpath(mask, evaluated['work'])
            ]
    cands = str(evaluated['work'] / 'candidates.json')
    with open(cands, 'w') as f:
        json.dump(pool, f)
    # One episode per query image: the last class of 2007_000033.
    preds = {p['sample_name']: p for p in evaluated['preds']}
    queries = [
        osp.join(root, 'VOC2012', 'JPEGImages', f'{name}.jpg')
        for name in INDEX
    ]
    inferencer = PromptHubInferencer(
        evaluated['cfg'], evaluated['ckpt'], device='cpu')
    out = inferencer(
        queries,
        index=evaluated['index'],
        candidates=cands,
        batch_size=2,
        return_datasamples=True)
    for name, sample in zip(INDEX, out['predictions']):
        assert sample.prompt_names == preds[name]['prompt_names']
        np.testing.assert_array_equal(sample.pred_sem_seg.data[0].numpy(),
                                      _cells(evaluated, preds[name]))


def test_demo_checkpoint_loads_from_any_directory(tmp_path):
    """The demo config names its committed backbone weights relative to
    the repository; an inferencer built from another working directory
    loads them (it used to fail: file not found)."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        inferencer = PromptHubInferencer(
            osp.join(
                REPO, 'configs', 'prompthub',
                'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py'
            ),
            device='cpu')
    finally:
        os.chdir(cwd)
    source = inferencer.model.backbone.pretrained_from[0]
    assert osp.isabs(source) and osp.samefile(
        source,
        osp.join(REPO, 'projects', 'prompthub', 'weights',
                 'tiny_vicl_fold0.pth'))
