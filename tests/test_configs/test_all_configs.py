"""Every config in ``configs/`` builds, runs one test step and scores.

Each config is loaded as a user would load it, then shrunk: a tiny
random-weight backbone and neck, one prompt per query, dataset roots
pointed at tiny folders in the real layouts (``testing/tiny_datasets.py``) and
every retrieval index the config names written by the test; what
``tools/test.py --out``/``--show-dir`` write from that step is read back.
The recipe of the PromptHub configs (docs/method.md, sections 6.4 and 7.5) is
checked on the unmodified config.
"""
import ast
import copy
import glob
import inspect
import json
import math
import os.path as osp
import re
from types import SimpleNamespace
from typing import Dict, List

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from PIL import Image

import projects.prompthub  # noqa: F401
import projects.prompthub.datasets.holdout  # noqa: F401
from projects.prompthub.apis import enable_visualization, set_prediction_output
from projects.prompthub.datasets.coco20i import (COCO_ID_TO_CONTIGUOUS,
                                                 coco_fold_category_ids)
from projects.prompthub.evaluation.prediction_io import sample_stem
from projects.prompthub.models.backbones import MAEVQGAN, TINY_MAE_VQGAN_CFG
from projects.prompthub.registry import DATASETS, HOOKS, MODELS, VISUALIZERS
from projects.prompthub.retrieval import RetrievalIndex
from projects.prompthub.testing import (make_tiny_coco, make_tiny_imagenet,
                                        make_tiny_voc, make_tiny_voc_stock,
                                        write_reference_json)
from projects.prompthub.utils import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The entry point configs/prompthub_seg.py and the PromptHub and MAE-VQGAN
# folders (HGPrompt's configs are tested in tests/test_hgprompt).
CONFIGS = sorted(
    osp.relpath(p, REPO) for folder in ('', 'prompthub', 'maevqgan')
    for p in glob.glob(osp.join(REPO, 'configs', folder, '*.py')))
# OpenMMLab's name: {algorithm}[-variant]_{backbone}_{gpus}xb{batch}-
# {schedule}_{dataset}.py, N in the algorithm, the fold in the dataset.
NAME = re.compile(
    r'(?P<algorithm>[a-z]+)-n(?P<n>\d+)(-(?P<variant>[a-z0-9-]+))?'
    r'_(?P<backbone>[a-z0-9-]+)'
    r'(_(?P<gpus>\d+)xb(?P<batch>\d+)-(?P<schedule>[a-z0-9-]+))?'
    r'_(?P<dataset>[a-z0-9-]+?)(-fold(?P<fold>\d))?\.py')
#: The published-task datasets of the recipe configs -> their task.
TASKS = {
    'pascal5i': 'seg',
    'coco20i-to-pascal5i': 'coco2pascal',
    'voc2012-single-object': 'det',
    'imagenet-colorization': 'color',
}
SIGMA = dict(seg=0.65, coco2pascal=0.65, det=0.5, color=2.5)


def parse_name(path: str) -> dict:
    """The fields of a config's name; the entry point
    ``configs/prompthub_seg.py`` is the Pascal-5i fold-0 N = 16 config."""
    if path == 'configs/prompthub_seg.py':
        path = ('configs/prompthub/prompthub-n16_mae-vqgan-l16_1xb16-sgd-'
                'cosr-150e_pascal5i-fold0.py')
    match = NAME.fullmatch(osp.basename(path))
    assert match, f'{path} does not follow the naming convention'
    return match.groupdict()


# The configs of the published tasks (their recipe is checked in detail).
RECIPE = [
    p for p in CONFIGS if osp.basename(osp.dirname(p)) != 'prompthub'
    or parse_name(p)['dataset'] in TASKS
]
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
_STEPPED = set()


@pytest.fixture(scope='module')
def roots(tmp_path_factory) -> Dict[str, str]:
    """Tiny data folders, keyed by the config's default data roots."""
    voc = str(tmp_path_factory.mktemp('VOCdevkit'))
    coco = str(tmp_path_factory.mktemp('coco'))
    imagenet = str(tmp_path_factory.mktemp('imagenet'))
    make_tiny_voc(voc)
    _more_pascal(voc)
    # mmseg's own VOC layout (SegmentationClass, ImageSets/Segmentation)
    # for the configs that mix in mmseg's pascal_voc12.py base.
    make_tiny_voc_stock(osp.join(voc, 'VOC2012'))
    make_tiny_coco(coco)
    _more_coco(coco)
    make_tiny_imagenet(imagenet)
    return {
        'data/VOCdevkit': voc,
        'data/coco': coco,
        'data/imagenet': imagenet,
        'data/retrieval': str(tmp_path_factory.mktemp('retrieval')),
    }


def _more_pascal(root: str) -> None:
    """Give Pascal-5i folds 1-3 five trn images each (the tiny set has
    two, too few for a held-out part and a prompt per training query)."""
    for fold in (1, 2, 3):
        lines = []
        for k in range(3):
            name = f'2009_{fold:02d}{k:04d}'
            img = np.full((20, 24, 3), 40 * k + 30 * fold, dtype=np.uint8)
            mask = np.zeros((20, 24), dtype=np.uint8)
            mask[3 + k:15, 4:18] = 5 * fold + 1
            Image.fromarray(img).save(
                osp.join(root, 'VOC2012', 'JPEGImages', name + '.jpg'))
            Image.fromarray(mask).save(
                osp.join(root, 'VOC2012', 'SegmentationClassAug',
                         name + '.png'))
            lines.append(f'{name}__{5 * fold + 1:02d}')
        with open(
                osp.join(root, 'splits', 'pascal', 'trn', f'fold{fold}.txt'),
                'a',
                newline='') as f:
            f.write(''.join(line + '\r\n' for line in lines))


def _more_coco(root: str) -> None:
    """Give COCO folds 1-3 three images each (the tiny set has one)."""
    for fold in (1, 2, 3):
        cat_id = coco_fold_category_ids(fold)[0]
        lines = []
        for k in range(3):
            stem = f'COCO_train2014_{fold:06d}{k:06d}'
            img = np.full((20, 24, 3), 40 * k + 30 * fold, dtype=np.uint8)
            mask = np.zeros((20, 24), dtype=np.uint8)
            mask[3 + k:15, 4:18] = COCO_ID_TO_CONTIGUOUS[cat_id]
            Image.fromarray(img).save(osp.join(root, 'trn2014', stem + '.jpg'))
            Image.fromarray(mask).save(
                osp.join(root, 'Coco_Trainlabel', stem + '.png'))
            lines.append(f'{stem}.jpg__{cat_id:02d}')
        with open(
                osp.join(root, 'split', 'coco', 'trn', f'fold{fold}.txt'),
                'a') as f:
            f.write(''.join(line + '\n' for line in lines))


def _remap(obj, roots: Dict[str, str]):
    """Point every ``data/...`` path of a config at the tiny folders.

    Datasets are also left unserialised: MMEngine's serialisation runs a
    full ``gc.collect()`` per dataset, most of the time of this test.
    """
    if isinstance(obj, dict):
        out = {k: _remap(v, roots) for k, v in obj.items()}
        if 'data_root' in out:
            out['serialize_data'] = False
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_remap(v, roots) for v in obj)
    if isinstance(obj, str):
        for prefix, root in roots.items():
            if obj == prefix or obj.startswith(prefix + '/'):
                return root + obj[len(prefix):]
    return obj


def _names(dataset) -> List[str]:
    dataset.full_init()
    return [
        str(dataset.get_data_info(i)['sample_name'])
        for i in range(len(dataset))
    ]


def _write_indices(wrappers: List[dict]) -> None:
    """Write each retrieval index the wrappers name (``.npz``).

    Queries: every query name of every user of the file. Candidates: the
    users' prompt pools, each list rotated per query; when every user
    skips unknown candidates, the other query names (e.g. the held-out
    part) are put first so that the skipping is exercised.
    """
    users: Dict[str, List[dict]] = {}
    for wrapper in wrappers:
        users.setdefault(wrapper['index'], []).append(wrapper)
    for path, group in users.items():
        queries, pool = [], []
        for wrapper in group:
            query_ds = DATASETS.build(copy.deepcopy(wrapper['dataset']))
            pool_cfg = wrapper.get('prompt_dataset') or wrapper['dataset']
            pool_ds = DATASETS.build(copy.deepcopy(pool_cfg))
            queries += [n for n in _names(query_ds) if n not in queries]
            pool += [n for n in _names(pool_ds) if n not in pool]
        extra = []
        if all(w.get('skip_unknown_candidates') for w in group):
            extra = [n for n in queries if n not in pool]
        lists = {}
        for i, query in enumerate(queries):
            rotated = pool[i % len(pool):] + pool[:i % len(pool)]
            lists[query] = [n for n in extra + rotated if n != query]
        json_path = write_reference_json(path[:-len('.npz')] + '.json', lists)
        RetrievalIndex.from_reference_json(json_path).save(path)


def tiny_config(path: str, roots: Dict[str, str]) -> dict:
    """The config as a plain dict, shrunk for a CPU test."""
    cfg = _remap(load_config(osp.join(REPO, path)).to_dict(), roots)
    model = cfg['model']
    backbone = copy.deepcopy(TINY_MAE_VQGAN_CFG)
    model['backbone'] = backbone
    if 'neck' in model:
        model['neck'].update(embed_dims=backbone['embed_dim'], num_heads=4)
    if model.get('data_preprocessor', {}).get('num_prompts'):
        model['data_preprocessor']['num_prompts'] = 1
    for key in LOADERS:
        loader = cfg.get(key)
        if loader and loader['dataset'].get('num_prompts'):
            loader['dataset']['num_prompts'] = 1
    return cfg


def _check_test_outputs(cfg: dict, model, batch: dict, outputs: list, dataset,
                        work_dir: str) -> None:
    """What tools/test.py --out and --show-dir write for this config's
    real outputs: predictions at the query's original size, one grid."""
    config = Config(copy.deepcopy(cfg))
    folders = set_prediction_output(config, osp.join(work_dir, 'out'))
    evaluator = Evaluator(config.test_evaluator)
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(copy.deepcopy(outputs), batch)
    evaluator.evaluate(1)
    height, width = outputs[0].ori_shape
    stem = sample_stem(outputs[0])
    for folder in folders:
        with open(osp.join(folder, 'scores.json')) as f:
            rows = json.load(f)['images']
        assert [r['name'] for r in rows] == [stem]
        with Image.open(osp.join(folder, f'{stem}.png')) as img:
            assert img.size == (width, height)
    enable_visualization(config, show_dir='grids')
    hook = HOOKS.build(config.default_hooks.visualization)
    runner = SimpleNamespace(
        model=model,
        work_dir=work_dir,
        timestamp='ts',
        iter=0,
        visualizer=VISUALIZERS.build(
            dict(
                config.visualizer, name=f'test_{work_dir}',
                save_dir=work_dir)))
    hook.before_run(runner)
    hook.after_test_iter(runner, 0, batch, outputs)
    assert osp.isfile(osp.join(work_dir, 'ts', 'grids', f'{stem}.png'))


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_scores(path, roots, tmp_path):
    init_default_scope('mmseg')
    cfg = tiny_config(path, roots)
    wrappers = [
        cfg[key]['dataset'] for key in LOADERS if cfg.get(key)
        and cfg[key]['dataset'].get('type') == 'RetrievalAugmentedDataset'
    ]
    _write_indices(wrappers)

    model = MODELS.build(cfg['model'])
    model.eval()
    datasets = {
        key: DATASETS.build(cfg[key]['dataset'])
        for key in LOADERS if cfg.get(key)
    }
    assert 'test_dataloader' in datasets
    for key, dataset in datasets.items():
        assert len(dataset) > 0, key
        sample = dataset[0]
        assert sample['inputs'].dtype.is_floating_point is False

    retrieval = cfg.get('retrieval')
    if retrieval is not None:
        for key in ('query_dataset', 'candidate_dataset'):
            if retrieval.get(key) is not None:
                assert len(DATASETS.build(retrieval[key])) > 0

    evaluators = [
        Evaluator(copy.deepcopy(cfg[key]))
        for key in ('val_evaluator', 'test_evaluator') if cfg.get(key)
    ]
    dataset = datasets['test_dataloader']
    task = dataset.metainfo.get('task')
    # One test step on the test split, scored by every evaluator; configs
    # whose tiny model, metrics and task equal an earlier one's (e.g. the
    # folds of a grid) skip this repetition.
    step_key = json.dumps(
        [cfg['model'],
         cfg.get('val_evaluator'), cfg['test_evaluator'], task],
        sort_keys=True,
        default=str)
    if step_key in _STEPPED:
        return
    _STEPPED.add(step_key)
    batch = pseudo_collate([dataset[0]])
    outputs = model.test_step(batch)
    assert len(outputs) == 1
    assert tuple(outputs[0].pred_label_img.data.shape)[0] == 3
    for evaluator in evaluators:
        evaluator.dataset_meta = dataset.metainfo
        evaluator.process(copy.deepcopy(outputs), batch)
        metrics = evaluator.evaluate(1)
        vicl = {k: v for k, v in metrics.items() if k.startswith('vicl/')}
        assert vicl, metrics
        assert all(math.isfinite(v) for v in vicl.values()), metrics
        assert ('vicl/mse' if task == 'colorization' else 'vicl/mIoU') in vicl
    _check_test_outputs(cfg, model, batch, outputs, dataset, str(tmp_path))


def _base_depth(path: str) -> int:
    """Depth of the ``_base_`` chain of a config file (itself = 0)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    bases = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            bases = [value] if isinstance(value, str) else list(value)
    return max(
        (1 + _base_depth(osp.join(osp.dirname(path), b)) for b in bases),
        default=0)


def _prompt_counts(cfg: Config) -> set:
    counts = {cfg.model.data_preprocessor.get('num_prompts')}
    for key in LOADERS:
        if cfg.get(key):
            counts.add(cfg[key].dataset.num_prompts)
    return counts


def _fold_values(obj) -> set:
    if isinstance(obj, dict):
        found = {obj['fold']} if 'fold' in obj else set()
        for value in obj.values():
            found |= _fold_values(value)
        return found
    return set()


@pytest.mark.parametrize('path', CONFIGS)
def test_config_name_states_n_batch_schedule_and_fold(path):
    """What the name says is what the config does: N, the training batch
    and GPUs, the optimizer and length, the backbone and the fold."""
    fields = parse_name(path)
    cfg = load_config(osp.join(REPO, path))
    assert fields['algorithm'] == osp.basename(
        osp.dirname(path)) or path == 'configs/prompthub_seg.py'
    assert _prompt_counts(cfg) == {int(fields['n'])}
    backbone = cfg.model.backbone
    if 'mae-vqgan' in fields['backbone']:
        assert backbone.type == 'MAEVQGAN'
        defaults = inspect.signature(MAEVQGAN).parameters
        size = [
            backbone.get(k, defaults[k].default)
            for k in ('embed_dim', 'patch_size')
        ]
        # ViT-L/16 or a tiny one.
        assert (size == [1024, 16]) == (fields['backbone'] == 'mae-vqgan-l16')
        assert fields['backbone'] in ('mae-vqgan-l16', 'tiny-mae-vqgan')
    else:
        assert fields['backbone'] == 'tiny-vicl', fields
        assert backbone.type == 'TinyVICLBackbone'
    if fields['schedule'] is None:  # test only
        assert cfg.get('train_dataloader') is None
        assert cfg.get('optim_wrapper') is None
    else:
        assert fields['gpus'] == '1'
        assert int(fields['batch']) == cfg.train_dataloader.batch_size
        optimizer, *rest = fields['schedule'].split('-')
        assert optimizer == cfg.optim_wrapper.optimizer.type.lower()
        length = re.fullmatch(r'(\d+)(e|iter)', rest[-1])
        assert length, fields['schedule']
        if length.group(2) == 'e':
            assert cfg.train_cfg.max_epochs == int(length.group(1))
        else:
            assert cfg.train_cfg.max_iters == int(length.group(1))
        if rest[:-1] == ['cosr']:
            assert cfg.param_scheduler[0].type == 'CosineRestartLR'
    if fields['fold'] is not None:
        folds = _fold_values(
            {k: cfg[k]
             for k in (*LOADERS, 'retrieval') if cfg.get(k)})
        assert folds == {int(fields['fold'])}


@pytest.mark.parametrize('path', RECIPE)
def test_config_recipe(path):
    assert _base_depth(osp.join(REPO, path)) <= 3
    cfg = load_config(osp.join(REPO, path))
    fields = parse_name(path)
    name = fields['variant'] or ''
    assert _prompt_counts(cfg) == {int(fields['n'])}
    task = TASKS[fields['dataset']]
    if task in ('seg', 'coco2pascal'):
        expected_fold = int(fields['fold'])
        assert _fold_values(
            {k: cfg[k]
             for k in (*LOADERS, 'retrieval')
             if cfg.get(k)}) == {expected_fold}
        assert f'fold{expected_fold}' in cfg.test_dataloader.dataset.index
    test_set = cfg.test_dataloader.dataset
    assert test_set.test_mode is True
    assert cfg.test_dataloader.batch_size == 8
    assert 'PromptReplacement' not in str(test_set.pipeline)
    # Pasted predictions bit-equal to the reference's (one image per
    # VQGAN decode, as it does).
    assert cfg.model.backbone.decode_per_image is True

    if fields['algorithm'] == 'maevqgan':
        assert cfg.model.type == 'VICLInpainter'
        assert cfg.train_dataloader is None and cfg.val_dataloader is None
        return

    assert cfg.model.type == 'PromptHub'
    assert cfg.model.neck.sigma == SIGMA[task]
    assert cfg.model.neck.dropout == 0.25
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(
        type='SGD', lr=0.03, momentum=0.0, weight_decay=0.0)
    assert cfg.train_cfg.max_epochs == 150
    assert cfg.param_scheduler[0].periods == [10] * 15
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.val_dataloader.batch_size == 8
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'

    checkpoint = cfg.default_hooks.checkpoint
    if task == 'color':
        assert (checkpoint.save_best, checkpoint.rule) == ('vicl/mse', 'less')
        assert cfg.test_evaluator.type == 'ColorizationMSE'
    else:
        assert (checkpoint.save_best, checkpoint.rule) == ('vicl/mIoU',
                                                           'greater')
        assert cfg.test_evaluator.type == 'VICLIoUMetric'
        assert cfg.test_evaluator.task == ('detection' if task == 'det' else
                                           'segmentation')

    # Model selection: a held-out part of the training list by default,
    # the test split itself for the reference's behaviour.
    train_query = cfg.train_dataloader.dataset.dataset
    val_set = cfg.val_dataloader.dataset
    if name == 'refselect':
        assert cfg.model_selection == 'reference'
        assert val_set == test_set
    else:
        assert cfg.model_selection == 'holdout'
        assert (train_query.type, train_query.part) == ('HoldoutSubset',
                                                        'train')
        assert (val_set.dataset.type,
                val_set.dataset.part) == ('HoldoutSubset', 'holdout')
        assert val_set.dataset.dataset == train_query.dataset
        assert val_set.prompt_dataset == train_query
        assert val_set.test_mode is True
    if task == 'coco2pascal':
        assert train_query.dataset.type == 'Coco20iDataset'
        assert test_set.dataset.type == 'Pascal5iDataset'
        assert test_set.prompt_dataset.type == 'Coco20iDataset'

    pipeline = str(cfg.train_dataloader.dataset.pipeline)
    assert ('PromptReplacement' in pipeline) == (name != 'no-aug')
    losses = {loss.type for loss in cfg.model.losses}
    assert ('UtilizationLoss' in losses) == (name != 'no-utilization-loss')
    assert ('SemanticAlignmentLoss' in losses) == (name != 'no-alignment-loss')


def test_every_published_number_has_a_config():
    names = {osp.basename(p) for p in CONFIGS}
    recipe = 'mae-vqgan-l16_1xb16-sgd-cosr-150e'
    for n in (1, 16):
        for fold in range(4):
            for dataset in ('pascal5i', 'coco20i-to-pascal5i'):
                assert (f'prompthub-n{n}_{recipe}_{dataset}-fold{fold}.py'
                        in names)
        for dataset in ('voc2012-single-object', 'imagenet-colorization'):
            assert f'prompthub-n{n}_{recipe}_{dataset}.py' in names
    with open(osp.join(REPO, 'configs', 'README.md')) as f:
        readme = f.read()
    for path in CONFIGS:
        name = osp.relpath(path, 'configs')
        assert f'`{name}`' in readme, (
            f'{name} is missing from configs/README.md')
