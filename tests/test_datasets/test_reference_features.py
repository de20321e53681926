"""The reference's fusion-feature inputs (docs/method.md, section 11), end
to end."""
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from PIL import Image

from projects.prompthub.datasets import (LoadVICLPair, PackVICLInputs,
                                         Pascal5iDataset)
from projects.prompthub.utils import load_config


def reference_feature_input(img: Image.Image) -> np.ndarray:
    """PIL bicubic to 224, then torch bilinear to 111, no antialias."""
    x = np.asarray(
        img.convert('RGB').resize(
            (224, 224), Image.BICUBIC), np.float32) / 255.0
    t = torch.from_numpy(x).permute(2, 0, 1)[None]
    t = F.interpolate(
        t,
        size=(111, 111),
        mode='bilinear',
        align_corners=False,
        antialias=False)
    return t[0].permute(1, 2, 0).numpy()


def _multi_class_record(root: str) -> tuple:
    """A record whose image also has an earlier-listed class."""
    ds = Pascal5iDataset(data_root=root, fold=0, split='trn')
    records = [ds.get_data_info(i) for i in range(len(ds))]
    for info in records:
        if info['feature_fg_value'] != info['seg_fg_value']:
            return info
    raise AssertionError('the tiny layout has no image with two classes')


def test_feature_inputs_follow_the_reference_pipeline(tiny_voc):
    root, _ = tiny_voc
    info = _multi_class_record(root)
    results = LoadVICLPair(reference_features=True).transform(dict(info))
    img = Image.open(info['img_path'])
    np.testing.assert_allclose(
        results['feat_img'], reference_feature_input(img), atol=1e-6)
    # The feature label is the image's first-listed class, the canvas label
    # the sample's own class.
    mask = np.asarray(Image.open(info['seg_map_path']))
    first = Image.fromarray(
        np.where(mask == info['feature_fg_value'], 255, 0).astype(np.uint8))
    np.testing.assert_allclose(
        results['feat_label_img'], reference_feature_input(first), atol=1e-6)
    own = np.where(mask == info['seg_fg_value'], 255, 0).astype(np.uint8)
    own = np.asarray(Image.fromarray(own).resize((111, 111), Image.BICUBIC))
    np.testing.assert_array_equal(results['label_img'][..., 0], own)
    assert not np.allclose(results['feat_label_img'][..., 0] * 255,
                           results['label_img'][..., 0])


def test_packed_feature_pairs_reach_the_model(tiny_voc):
    from mmengine.registry import init_default_scope

    from projects.prompthub.registry import MODELS
    from projects.prompthub.structures import pair_canvas
    root, _ = tiny_voc
    ds = Pascal5iDataset(data_root=root, fold=0, split='trn')
    load = LoadVICLPair(reference_features=True)
    query = load.transform(ds.get_data_info(0))
    query['prompt_results'] = [load.transform(ds.get_data_info(1))]
    packed = PackVICLInputs().transform(query)
    # The reference features travel next to the inputs, which stay the
    # uint8 pair tensor of every other pipeline.
    assert set(packed) == {'inputs', 'data_samples', 'feature_pairs'}
    assert packed['inputs'].dtype == torch.uint8
    assert packed['inputs'].shape == (2, 2, 3, 111, 111)
    assert packed['feature_pairs'].dtype == torch.float32
    assert packed['feature_pairs'].shape == (2, 2, 3, 111, 111)

    init_default_scope('mmseg')
    cfg = load_config(
        osp.join('configs', 'prompthub',
                 'prompthub-n2_tiny-mae-vqgan_1xb4-sgd-2e_synthetic.py')).model
    cfg.data_preprocessor = dict(type='VICLDataPreprocessor')
    model = MODELS.build(cfg).eval()
    data = model.data_preprocessor(pseudo_collate([packed]))
    features = data['feature_pairs']
    support, q = model.pair_tokens(data['inputs'], features)
    expected = model.backbone.embed(
        pair_canvas(features[:, :, 0].flatten(0, 1),
                    features[:, :, 1].flatten(0, 1)))
    torch.testing.assert_close(support[0, 0], expected[1, :98])
    torch.testing.assert_close(q[0], expected[0, 98:])
    # Without the reference inputs the canvas pairs are embedded instead.
    plain, _ = model.pair_tokens(data['inputs'])
    assert not torch.allclose(plain, support)
    with torch.no_grad():
        losses = model(**data, mode='loss')
        samples = model(**data, mode='predict')
    assert set(losses) == {'loss_p', 'loss_s', 'loss_u'}
    assert samples[0].pred_label_img.shape == (111, 111)
