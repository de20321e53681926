"""Pretrain the tiny VICL backbone of the CPU demo on look-alike data.

Recipe (the defaults reproduce ``projects/prompthub/weights/``): a pool of
``--pool-size`` rendered pairs per training class of the fold (targets
with look 0, 1 or both, distractors of other training classes), episodes
of two pairs of one class (prompt on top, query below); the query label
marks the query's target objects whose look the prompt shows. Loss: BCE
on the pixels of the BR tokens plus 0.2 x BCE on 24 random other tokens
plus a soft Dice on the BR label; AdamW, cosine learning rate, fp32, two
threads. At the end (and every ``--eval-interval`` steps) it prints the
prompt-reading gate on held-out classes: IoU with a right-class prompt
minus IoU with a wrong-class prompt (must be >= 0.10).

Example::

    python tools/misc/pretrain_tiny_backbone.py \
        --out projects/prompthub/weights/tiny_vicl_fold0.pth
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from projects.prompthub.datasets.synthetic_vicl import (NUM_LOOKALIKE_CLASSES,
                                                        LookalikeVICLDataset,
                                                        lookalike_fold_classes,
                                                        render_lookalike_pair)
from projects.prompthub.datasets.transforms import PackVICLInputs
from projects.prompthub.demo.scoring import (backbone_probs, iou_per_episode,
                                             stack_episodes)
from projects.prompthub.models.backbones import TinyVICLBackbone
from projects.prompthub.structures import build_canvas

BACKBONE_CFG = dict(
    embed_dim=64,
    depth=2,
    num_heads=4,
    mlp_ratio=2.,
    sub_size=8,
    head_dim=32,
    num_protos=4)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='checkpoint to write')
    parser.add_argument('--fold', type=int, default=0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--steps', type=int, default=400)
    parser.add_argument(
        '--minutes',
        type=float,
        default=60.,
        help='stop early after this wall time')
    parser.add_argument('--batch-size', type=int, default=24)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--pool-size', type=int, default=300)
    parser.add_argument('--eval-interval', type=int, default=100)
    parser.add_argument('--eval-episodes', type=int, default=100)
    parser.add_argument('--threads', type=int, default=2)
    return parser.parse_args()


def build_pool(fold: int, seed: int, size: int) -> dict:
    """Rendered training pairs: images, per-look masks, looks, classes."""
    held = lookalike_fold_classes(fold)
    train = [c for c in range(NUM_LOOKALIKE_CLASSES) if c not in held]
    imgs, masks, looks, classes = [], [], [], []
    for cls in train:
        others = [c for c in train if c != cls]
        for i in range(size):
            rng = np.random.default_rng([seed, fold, 7, cls, i])
            lk = [[0], [1], [0, 1]][i % 3]
            out = render_lookalike_pair(rng, cls, lk, others)
            imgs.append(out['img'])
            masks.append(out['look_masks'])
            looks.append([0 in lk, 1 in lk])
            classes.append(cls)
    return dict(
        img=torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2),
        masks=torch.from_numpy(np.stack(masks)),
        looks=torch.tensor(looks),
        classes=torch.tensor(classes))


def sample_batch(pool: dict, gen: torch.Generator, bsz: int):
    """One batch of episodes: normalised canvases and targets."""
    num = pool['classes'].numel()
    q = torch.randint(num, (bsz, ), generator=gen)
    cls = pool['classes'][q]
    p = torch.empty_like(q)
    for i in range(bsz):  # a prompt of the same class, another pair
        same = torch.nonzero(pool['classes'] == cls[i]).flatten()
        pick = same[torch.randint(len(same), (1, ), generator=gen)]
        while pick == q[i]:
            pick = same[torch.randint(len(same), (1, ), generator=gen)]
        p[i] = pick
    shown = pool['looks'][p]  # [B, 2] looks the prompt shows
    q_label = (pool['masks'][q] & shown[:, :, None, None]).any(1)
    p_label = pool['masks'][p].any(1)
    f = 1 / 255.

    def lab(m):
        return m[:, None].float().expand(-1, 3, -1, -1)

    canvas = build_canvas(pool['img'][p].float() * f, lab(p_label),
                          pool['img'][q].float() * f, lab(q_label))
    return canvas


def evaluate_gate(backbone, fold: int, episodes: int) -> dict:
    """Held-out IoU with right-class and wrong-class prompts (slot 1)."""
    kw = dict(
        num_samples=episodes,
        num_prompts=1,
        fold=fold,
        split='test',
        seed=1,
        pipeline=[PackVICLInputs()])
    right = LookalikeVICLDataset(**kw)
    wrong = LookalikeVICLDataset(wrong_class_prompts=True, **kw)
    scores = {}
    for name, ds in (('right', right), ('wrong', wrong)):
        ious = []
        for start in range(0, episodes, 50):
            idx = range(start, min(start + 50, episodes))
            inputs, gt = stack_episodes(ds, idx)
            prob = backbone_probs(backbone, inputs, 1)
            ious.append(iou_per_episode(prob > 0.5, gt))
        scores[name] = float(np.concatenate(ious).mean())
    scores['gap'] = scores['right'] - scores['wrong']
    return scores


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    pool = build_pool(args.fold, args.seed, args.pool_size)
    print(
        f'[pretrain] pool of {pool["classes"].numel()} pairs in '
        f'{time.time() - t0:.1f} s',
        flush=True)
    model = TinyVICLBackbone(frozen=False, **BACKBONE_CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    br = model.br_ids
    others = torch.tensor(
        [t for t in range(model.grid_size**2) if t not in set(br.tolist())])
    start, history = time.time(), []
    step = 0
    for step in range(1, args.steps + 1):
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        lr *= min(1., step / 100)
        for group in opt.param_groups:
            group['lr'] = lr
        canvas = sample_batch(pool, gen, args.batch_size)
        with torch.no_grad():
            target = model.prediction_targets(canvas)
        extra = others[torch.randperm(len(others), generator=gen)[:24]]
        ids = torch.cat([br, extra])
        logits = model.forward_tokens(model.embed(canvas), ids)
        target = target[:, ids]
        nb = len(br)
        bce_br = F.binary_cross_entropy_with_logits(logits[:, :nb],
                                                    target[:, :nb])
        bce_rest = F.binary_cross_entropy_with_logits(logits[:, nb:],
                                                      target[:, nb:])
        prob = logits[:, :nb].sigmoid().flatten(1)
        tgt = target[:, :nb].flatten(1)
        dice = 1 - (2 * (prob * tgt).sum(1) + 1) / (
            prob.sum(1) + tgt.sum(1) + 1)
        loss = bce_br + 0.2 * bce_rest + dice.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = (time.time() - start) / 60
        if step % 25 == 0:
            print(
                f'[pretrain] step {step} loss {loss.item():.4f} '
                f'(bce_br {bce_br.item():.4f} dice '
                f'{dice.mean().item():.4f}) lr {lr:.2e} '
                f'{elapsed:.1f} min',
                flush=True)
        last = step == args.steps or elapsed >= args.minutes
        if step % args.eval_interval == 0 or last:
            model.eval()
            gate = evaluate_gate(model, args.fold, args.eval_episodes)
            model.train()
            gate.update(step=step, minutes=round(elapsed, 2))
            history.append(gate)
            print(
                f'[pretrain] gate at step {step}: right-class IoU '
                f'{gate["right"]:.3f}, wrong-class IoU '
                f'{gate["wrong"]:.3f}, gap {gate["gap"]:.3f}',
                flush=True)
            state = {k: v.half() for k, v in model.state_dict().items()}
            torch.save(
                dict(
                    state_dict=state,
                    meta=dict(
                        backbone_cfg=BACKBONE_CFG,
                        recipe=vars(args),
                        steps_done=step,
                        history=history)), args.out)
        if last:
            break
    gate = history[-1]
    verdict = 'PASS' if gate['gap'] >= 0.10 else 'FAIL'
    print(f'[pretrain] GATE {verdict}: held-out right-class IoU '
          f'{gate["right"]:.3f} - wrong-class IoU {gate["wrong"]:.3f} = '
          f'{gate["gap"]:.3f} (needs >= 0.10) after {step} steps, '
          f'{(time.time() - start) / 60:.1f} min')
    print(json.dumps(history[-1]))


if __name__ == '__main__':
    main()
