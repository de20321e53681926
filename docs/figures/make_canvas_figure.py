"""Draw docs/figures/canvas.png, the README's figure (seconds, CPU).

Left: one 2x2 canvas of the CPU demo's look-alike data (prompt image |
prompt label / query image | the frozen tiny backbone's answer with that
one prompt). Right: the N = 4 retrieved prompt pairs PromptHub fuses for
the same query, and the query's ground truth. Run from the repository
root::

    python docs/figures/make_canvas_figure.py
"""
import os.path as osp
import sys

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmengine.config import Config  # noqa: E402

from projects.prompthub.demo.cpu_demo import build_eval_dataset  # noqa: E402
from projects.prompthub.demo.scoring import stack_episodes  # noqa: E402
from projects.prompthub.registry import MODELS  # noqa: E402
from projects.prompthub.structures import build_canvas  # noqa: E402
from projects.prompthub.visualization import draw_vicl_grid  # noqa: E402

EPISODE = 0


def main() -> None:
    import projects.prompthub  # noqa: F401  (registers the components)
    cfg = Config.fromfile(
        osp.join(
            ROOT, 'configs', 'prompthub',
            'prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py'))
    dataset = build_eval_dataset(cfg, num_prompts=4, episodes=EPISODE + 1)
    inputs, gt = stack_episodes(dataset, [EPISODE])
    backbone = MODELS.build(cfg.model.backbone).eval()
    prompt, query = inputs[:, 1], inputs[:, 0]
    with torch.no_grad():
        canvas = build_canvas(prompt[:, 0], prompt[:, 1], query[:, 0],
                              query[:, 1])
        answer = backbone.logits_to_image(
            backbone.forward_tokens(backbone.embed(canvas)))
    shown = build_canvas(
        prompt[:, 0], prompt[:, 1], query[:, 0], None, normalize=False)
    shown[..., 112:, 112:] = answer[..., 112:, 112:]
    # A grey frame shows the canvas's white gutters and border.
    left = cv2.copyMakeBorder(
        (shown[0].permute(1, 2, 0) * 255).round().byte().numpy(),
        1,
        1,
        1,
        1,
        cv2.BORDER_CONSTANT,
        value=(160, ) * 3)
    band = np.full((14, left.shape[1], 3), 255, np.uint8)
    cv2.putText(band, 'canvas, 1 prompt (P1)', (2, 11),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    left = np.concatenate([band, left])
    prompts = [(inputs[0, k, 0], inputs[0, k, 1]) for k in range(1, 5)]
    right = draw_vicl_grid(prompts, inputs[0, 0, 0], None, gt[0])
    height = max(left.shape[0], right.shape[0])
    pad = np.full((height, 16, 3), 255, np.uint8)

    def fit(img):
        out = np.full((height, img.shape[1], 3), 255, np.uint8)
        top = (height - img.shape[0]) // 2
        out[top:top + img.shape[0]] = img
        return out

    figure = np.concatenate([fit(left), pad, fit(right)], axis=1)
    out = osp.join(ROOT, 'docs', 'figures', 'canvas.png')
    # A 256-colour palette keeps the file small (the data has flat colours
    # plus sensor-like noise).
    palette = Image.fromarray(figure).quantize(
        256, method=Image.Quantize.MAXCOVERAGE)
    palette.save(out, optimize=True)
    print(out, figure.shape)


if __name__ == '__main__':
    main()
