"""Shared fixtures of the retrieval tests: images, a toy dataset, a tiny
timm model with weights in a temporary file, and independent brute-force
references (numpy / PIL only, no code under test)."""
import os.path as osp

import numpy as np
import timm
import torch
from PIL import Image

from projects.prompthub.registry import DATASETS

TINY_MODEL = 'vit_tiny_patch16_224'
TINY_KWARGS = dict(
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    num_classes=8)
TINY_PREPROCESS = dict(resize=32, crop=32)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


@DATASETS.register_module(force=True)
class RetrievalToyDataset:
    """The minimum the retrieval tool needs (docs/design.md records)."""

    def __init__(self, records):
        self.records = [dict(r) for r in records]

    def __len__(self):
        return len(self.records)

    def get_data_info(self, i):
        return dict(self.records[i])


def make_images(root, names, seed=0):
    """Random RGB images of varying size and aspect; returns paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, name in enumerate(names):
        h, w = 36 + 4 * (i % 3), 40 + 6 * (i % 4)
        base = rng.integers(0, 256, size=(1, 1, 3))
        noise = rng.integers(-60, 60, size=(h, w, 3))
        img = np.clip(base + noise, 0, 255).astype(np.uint8)
        ext = '.png' if i % 2 else '.jpg'
        path = osp.join(str(root), name + ext)
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def save_tiny_model(path, seed=0):
    """A random tiny ViT, its weights saved to ``path``."""
    torch.manual_seed(seed)
    model = timm.create_model(TINY_MODEL, pretrained=False, **TINY_KWARGS)
    torch.save(model.state_dict(), str(path))
    return model.eval()


def manual_preprocess(path, size=32):
    """Resize short side (bicubic) -> centre crop -> CLIP normalise."""
    with Image.open(path) as img:
        img = img.convert('RGB')
    w, h = img.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    img = img.resize((new_w, new_h), Image.BICUBIC)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    arr = np.asarray(
        img, dtype=np.float64)[top:top + size, left:left + size] / 255.0
    arr = (arr - CLIP_MEAN) / CLIP_STD
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).float()


def manual_features(model, paths, feature='pixel'):
    """Unit-norm features of ``paths``, float64 numpy [N, D]."""
    x = torch.stack([manual_preprocess(p) for p in paths])
    with torch.no_grad():
        out = model.forward_features(x) if feature == 'pixel' else model(x)
    feats = out.flatten(1).double().numpy()
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def brute_force_topk(query,
                     cands,
                     k,
                     query_names=None,
                     cand_names=None,
                     exclude_self=False):
    """Reference top-k: full cosine matrix, sort, de-duplicate names
    keeping the first, drop the query's own name. Returns row indices."""
    q = np.asarray(query, dtype=np.float64)
    c = np.asarray(cands, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    sim = q @ c.T
    if cand_names is None:
        cand_names = list(range(len(c)))
    out_idx, out_sim = [], []
    for i in range(len(q)):
        order = np.argsort(-sim[i], kind='stable')
        seen, row = set(), []
        for j in order:
            name = cand_names[j]
            if name in seen:
                continue
            seen.add(name)
            if exclude_self and name == query_names[i]:
                continue
            row.append(j)
            if len(row) == k:
                break
        out_idx.append(row)
        out_sim.append(sim[i, row])
    return np.array(out_idx), np.array(out_sim)
