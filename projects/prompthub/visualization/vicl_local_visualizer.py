"""The visualizer of VICL episodes: mmseg's ``add_datasample`` interface."""
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from projects.prompthub.evaluation.prediction_io import encode_png
from projects.prompthub.registry import VISUALIZERS
from projects.prompthub.utils.atomic_io import atomic_write
from .vicl_visualization import draw_vicl_grid

#: Data-sample fields :func:`set_episode_views` adds for the visualizer.
PROMPT_PAIRS = 'prompt_pairs'
FUSED_PROMPT = 'fused_prompt'


def set_episode_views(data_samples: Sequence,
                      inputs: torch.Tensor,
                      fused=None,
                      max_prompts: Optional[int] = None) -> list:
    """Data samples that also carry their episode's prompts.

    :meth:`VICLLocalVisualizer.add_datasample` draws the prompt pairs
    and the fused prompt from the data sample, as mmseg's visualizer draws
    ``pred_sem_seg`` from it; this puts them there. The samples are
    shallow copies (``new()``): the given ones are left unchanged.

    Args:
        data_samples (Sequence[SegDataSample]): The model's outputs, one
            per episode.
        inputs (Tensor): The preprocessed batch, [B, K+1, 2, 3, S, S] in
            [0, 1], in the order of ``data_samples``; index 0 of dim 1 is
            the query pair.
        fused (Tensor, optional): [B, 2, 3, S, S], the fused prompt's
            image and label cells
            (:func:`~projects.prompthub.visualization.fused_prompt_cells`).
        max_prompts (int, optional): Keep the first prompts only.

    Returns:
        list[SegDataSample]: With ``prompt_pairs`` (uint8 [K, 2, 3, S, S])
        and, when ``fused`` is given, ``fused_prompt`` (uint8
        [2, 3, S, S]).
    """
    if inputs.shape[0] < len(data_samples):
        raise ValueError(f'{len(data_samples)} data samples but inputs of '
                         f'{inputs.shape[0]} episodes')
    stop = None if max_prompts is None else max_prompts + 1
    views = []
    for i, sample in enumerate(data_samples):
        view = sample.new()
        view.set_field(_to_uint8(inputs[i, 1:stop]), PROMPT_PAIRS)
        if fused is not None:
            view.set_field(_to_uint8(fused[i]), FUSED_PROMPT)
        views.append(view)
    return views


def query_image(inputs: torch.Tensor, index: int) -> np.ndarray:
    """The query image of episode ``index`` of a preprocessed batch, as
    the HxWx3 uint8 RGB ``image`` of :meth:`~VICLLocalVisualizer.
    add_datasample`."""
    return _to_uint8(inputs[index, 0, 0]).permute(1, 2, 0).numpy()


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    x = x.detach().cpu()
    if x.is_floating_point():
        x = (x.clamp(0, 1) * 255).round()
    return x.to(torch.uint8)


def _pixel_field(data_sample, *keys):
    """The first of ``keys`` the sample has, as an array (PixelData data,
    tensor or array), else None."""
    for key in keys:
        if data_sample is not None and key in data_sample:
            value = data_sample.get(key)
            value = getattr(value, 'data', value)
            if key.endswith('sem_seg'):
                value = value[0] > 0  # [1, H, W] class map -> fg mask
            return value
    return None


@VISUALIZERS.register_module()
class VICLLocalVisualizer(Visualizer):
    """Draw visual in-context learning episodes as PNG grids.

    :meth:`add_datasample` has the signature of mmseg's
    ``SegLocalVisualizer``: it draws one episode
    (:func:`~projects.prompthub.visualization.draw_vicl_grid`) as a grid
    of columns, each an image over its label: the prompt pairs ``P1..PK``
    (the sample's ``prompt_pairs``), the ``fused`` prompt (its
    ``fused_prompt``, PromptHub only), the query with the prediction
    (``pred_label_img``, else the ``pred_sem_seg`` mask) and with the
    ground truth (``gt_label_img``, else ``gt_sem_seg``). Use
    :func:`set_episode_views` to add the prompts to a model's output.
    Every cell is drawn at the size of the first label cell, so ``image``
    may be the query at its original size or its canvas cell.

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        image (np.ndarray, optional): Initial image. Defaults to None.
        vis_backends (list[dict], optional): Storage backends (e.g.
            ``LocalVisBackend``, ``TensorboardVisBackend``). Defaults to
            None.
        save_dir (str, optional): Folder of the backends' files. Defaults
            to None.
        max_prompts (int, optional): Prompt columns drawn at most; None
            draws all. Defaults to 4.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 max_prompts: Optional[int] = 4,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, **kwargs)
        self.max_prompts = max_prompts

    def draw_episode(self,
                     image: np.ndarray,
                     data_sample=None,
                     draw_gt: bool = True,
                     draw_pred: bool = True) -> np.ndarray:
        """The grid of one episode (see the class docstring).

        Returns:
            np.ndarray: HxWx3 uint8 RGB.
        """
        prompts = _pixel_field(data_sample, PROMPT_PAIRS)
        if prompts is None:
            prompts = []
        prompts = [(p[0], p[1]) for p in prompts][:self.max_prompts]
        fused = _pixel_field(data_sample, FUSED_PROMPT)
        pred = _pixel_field(data_sample, 'pred_label_img',
                            'pred_sem_seg') if draw_pred else None
        gt = _pixel_field(data_sample, 'gt_label_img',
                          'gt_sem_seg') if draw_gt else None
        return draw_vicl_grid(prompts, image, pred, gt,
                              None if fused is None else (fused[0], fused[1]))

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       with_labels: bool = True) -> np.ndarray:
        """Draw one episode; show it, write it or hand it to the backends.

        As mmseg's ``SegLocalVisualizer.add_datasample``: with ``show``
        the grid is displayed; with ``out_file`` it is written there
        (atomically; a failed write raises), else every storage backend
        gets it (``add_image(name, grid, step)``). :meth:`get_image`
        returns it afterwards.

        Args:
            name (str): Image identifier.
            image (np.ndarray): The query image, HxWx3 uint8 RGB.
            data_sample (SegDataSample, optional): The model's output,
                with the fields named in the class docstring.
            draw_gt (bool): Draw the ground-truth column. Defaults to
                True.
            draw_pred (bool): Draw the prediction column. Defaults to
                True.
            show (bool): Display the grid. Defaults to False.
            wait_time (float): Seconds the display waits. Defaults to 0.
            out_file (str, optional): PNG to write. Defaults to None.
            step (int): Global step of the backends. Defaults to 0.
            with_labels (bool): Kept for mmseg's signature; column titles
                are always drawn. Defaults to True.

        Returns:
            np.ndarray: The grid, HxWx3 uint8 RGB.
        """
        grid = self.draw_episode(image, data_sample, draw_gt, draw_pred)
        self.set_image(grid)
        if show:
            self.show(grid, win_name=name, wait_time=wait_time)
        if out_file is not None:
            atomic_write(out_file, encode_png(grid))
        else:
            self.add_image(name, grid, step)
        return grid
