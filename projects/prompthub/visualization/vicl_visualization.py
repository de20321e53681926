"""PNG grids of a VICL episode and the hook that writes them."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import mmengine
import numpy as np
import torch
from mmengine.hooks import Hook
from torch import Tensor

from projects.prompthub.models.utils.canvas import cell_size
from projects.prompthub.registry import HOOKS

_GAP = 2
_BAND = 14


def _to_hwc(img) -> np.ndarray:
    """[3, H, W] / [H, W, 3] / [H, W] tensor or array -> HxWx3 uint8."""
    if isinstance(img, Tensor):
        img = img.detach().cpu()
        if img.is_floating_point():
            img = (img.clamp(0, 1) * 255).round()
        img = img.to(torch.uint8).numpy()
    img = np.asarray(img)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    return np.ascontiguousarray(img.astype(np.uint8))


def draw_vicl_grid(prompts: Sequence[tuple],
                   query_img,
                   pred_label,
                   gt_label=None,
                   fused: Optional[tuple] = None) -> np.ndarray:
    """One episode as a 2-row grid (images on top, labels below).

    Columns: the prompt pairs P1..PK, the decoded fused prompt pair (when
    given), then the query with the prediction and, when given, with the
    ground truth. Every cell is resized to the first prompt's size.

    Args:
        prompts (Sequence[tuple]): ``(image, label)`` per prompt; tensors
            [3, S, S] (uint8 or float in [0, 1]) or HxWx3 arrays.
        query_img: The query image.
        pred_label: The predicted label image (or bool mask).
        gt_label (optional): The ground-truth label image.
        fused (tuple, optional): ``(image, label)`` the backbone renders
            from the fused prompt tokens.

    Returns:
        np.ndarray: HxWx3 uint8 RGB.
    """
    cols = [(f'P{i + 1}', img, lab) for i, (img, lab) in enumerate(prompts)]
    if fused is not None:
        cols.append(('fused', fused[0], fused[1]))
    cols.append(('pred', query_img, pred_label))
    if gt_label is not None:
        cols.append(('gt', query_img, gt_label))
    first = _to_hwc(cols[0][1])
    size = first.shape[0]
    width = len(cols) * (size + _GAP) + _GAP
    height = _BAND + 2 * (size + _GAP) + _GAP
    grid = np.full((height, width, 3), 255, np.uint8)
    for k, (title, img, lab) in enumerate(cols):
        x = _GAP + k * (size + _GAP)
        cv2.putText(grid, title, (x + 2, _BAND - 3),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for r, cell in enumerate((img, lab)):
            cell = _to_hwc(cell)
            if cell.shape[:2] != (size, size):
                cell = cv2.resize(cell, (size, size),
                                  interpolation=cv2.INTER_NEAREST)
            y = _BAND + _GAP + r * (size + _GAP)
            grid[y:y + size, x:x + size] = cell
    return grid


@torch.no_grad()
def fused_prompt_cells(model,
                       inputs: Tensor,
                       logits: Optional[Tensor] = None) -> Optional[Tensor]:
    """Rendered TL/TR cells of the fused canvas of a PromptHub model.

    Args:
        model: A ``PromptHub`` (anything with a ``neck``); other models
            return None.
        inputs (Tensor): [B, K+1, 2, 3, S, S] in [0, 1].
        logits (Tensor, optional): ``model.encode_decode(inputs)`` when
            the caller has it already. Defaults to None (computed).

    Returns:
        Tensor | None: float [B, 2, 3, S, S] in [0, 1]: the fused prompt
        tokens themselves when the backbone can show them
        (``render_tokens``, e.g. the pixel-carrying tiny backbone), else
        what the frozen backbone reconstructs from them (MAE-VQGAN).
    """
    if getattr(model, 'neck', None) is None:
        return None
    render_tokens = getattr(model.backbone, 'render_tokens', None)
    if render_tokens is not None:
        rendered = render_tokens(model.extract_feat(inputs))
    else:
        if logits is None:
            logits = model.encode_decode(inputs)
        rendered = model.backbone.render(logits)
    size = rendered.shape[-1]
    cell = cell_size(size)
    far = size - cell
    return torch.stack([
        rendered[..., :cell, :cell], rendered[..., :cell, far:far + cell]
    ], dim=1)


@HOOKS.register_module()
class VICLVisualizationHook(Hook):
    """Save PNG grids of sampled validation/test queries.

    For the first ``num_samples`` queries of the first batch of every
    validation (and of the test run), it saves the prompt pairs, the
    decoded fused prompt pair (PromptHub: what the fusion learned), the
    prediction and the ground truth (:func:`draw_vicl_grid`) under
    ``{work_dir}/{out_dir}/`` and hands the grid to the runner's
    visualizer (``add_image``), so a ``TensorboardVisBackend`` in the
    config puts it in TensorBoard too.

    Args:
        num_samples (int): Queries drawn per evaluation. Defaults to 4.
        max_prompts (int): Prompt pairs shown. Defaults to 4.
        out_dir (str): Sub-directory of the work dir. Defaults to
            ``'vis'``.
    """

    priority = 'LOW'

    def __init__(self,
                 num_samples: int = 4,
                 max_prompts: int = 4,
                 out_dir: str = 'vis') -> None:
        self.num_samples = num_samples
        self.max_prompts = max_prompts
        self.out_dir = out_dir

    def _draw(self, runner, batch_idx: int, data_batch: dict,
              outputs: Sequence, tag: str) -> None:
        if batch_idx != 0 or self.num_samples <= 0:
            return
        model = runner.model
        model = getattr(model, 'module', model)
        data = model.data_preprocessor(data_batch, False)
        inputs = data['inputs'][:self.num_samples]
        fused = fused_prompt_cells(model, inputs)
        folder = osp.join(runner.work_dir, self.out_dir, tag)
        mmengine.mkdir_or_exist(folder)
        for i, sample in enumerate(outputs[:len(inputs)]):
            prompts = [(inputs[i, k, 0], inputs[i, k, 1])
                       for k in range(1, min(inputs.shape[1],
                                             self.max_prompts + 1))]
            gt = sample.gt_label_img.data if 'gt_label_img' in sample \
                else None
            grid = draw_vicl_grid(
                prompts, inputs[i, 0, 0], sample.pred_label_img.data, gt,
                None if fused is None else (fused[i, 0], fused[i, 1]))
            name = f'sample_{i}'
            cv2.imwrite(
                osp.join(folder, f'{name}.png'),
                cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
            runner.visualizer.add_image(f'vicl_{tag}_{name}', grid,
                                        step=runner.iter)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        """Draw the first validation batch."""
        self._draw(runner, batch_idx, data_batch, outputs,
                   f'val_iter_{runner.iter}')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        """Draw the first test batch."""
        self._draw(runner, batch_idx, data_batch, outputs, 'test')
