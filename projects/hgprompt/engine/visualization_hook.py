"""The hook that draws HGPrompt test samples: image, GT and prediction."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
import torch

from projects.hgprompt.registry import HOOKS
from projects.prompthub.engine.hooks.drawing_hook import DrawingHook
from projects.prompthub.evaluation.prediction_io import encode_png
from projects.prompthub.utils.atomic_io import atomic_write
from projects.prompthub.utils.validation import check_count


def _class_name(label: int, classes) -> str:
    # VTAB tasks name their classes by number: no '3 (3)'.
    if (classes is not None and 0 <= label < len(classes)
            and str(classes[label]) != str(label)):
        return f'{label} ({classes[label]})'
    return str(label)


@HOOKS.register_module()
class HGClsVisualizationHook(DrawingHook):
    """Draw classified validation/test samples with the runner's visualizer.

    mmseg's ``SegVisualizationHook`` interface (``draw``, ``interval``,
    ``show``, ``wait_time``; ``tools/test.py --show`` and ``--show-dir``
    switch it on) for :class:`HGPromptClassifier`: each drawn sample is
    its input image (what the model saw, enlarged to ``min_size`` with
    nearest neighbour so small images stay legible) with the ground-truth
    class and the predicted class and score written over it. Drawn with
    any mmengine ``Visualizer`` (``set_image``/``draw_texts``), written to

    - ``{work_dir}/{timestamp}/{test_out_dir}/{sample_idx:05d}.png`` in
      the test loop when ``test_out_dir`` is set (``--show-dir``; an
      absolute path is used as is), atomically;
    - else the visualizer's storage backends under
      ``{val|test}_{sample_idx:05d}``.

    Batches ``0, interval, 2 * interval, ...`` are drawn, every sample
    of a drawn batch, on the main process only (as mmseg).

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Draw every ``interval``-th batch. Defaults to 50.
        show (bool): Display each drawing. Defaults to False.
        wait_time (float): Seconds a displayed drawing stays. Defaults
            to 0.
        test_out_dir (str, optional): Folder of the test drawings,
            relative to ``{work_dir}/{timestamp}``. Defaults to None.
        min_size (int): Shorter side of a drawing. Defaults to 256.
    """

    drawn_what = 'classified samples drawn to'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None,
                 min_size: int = 256) -> None:
        super().__init__(draw, interval, show, wait_time, test_out_dir)
        self.min_size = check_count(min_size, 'min_size', type(self).__name__)

    def before_run(self, runner) -> None:
        """As mmseg: a displayed drawing is not also stored."""
        self.drop_backends_if_shown(runner)

    def _image(self, inputs) -> np.ndarray:
        """An HxWx3 uint8 RGB image from a packed ``[3, H, W]`` input."""
        img = torch.as_tensor(inputs).detach().cpu()
        img = img.permute(1, 2, 0).numpy()
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        h, w = img.shape[:2]
        scale = max(1, -(-self.min_size // max(1, min(h, w))))
        if scale > 1:
            img = cv2.resize(
                img, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(img)

    def draw_sample(self, visualizer, inputs, sample) -> np.ndarray:
        """The drawing of one classified sample (RGB uint8).

        Raises:
            KeyError: The sample has no ``pred_label``/``pred_score`` (the
                model is not a classifier).
        """
        if 'pred_label' not in sample or 'pred_score' not in sample:
            raise KeyError(
                f'{type(self).__name__} draws classifier outputs, but a '
                f'data sample has no pred_label/pred_score (keys: '
                f'{sorted(sample.keys())}). Use it with HGPromptClassifier; '
                'VICL models take VICLVisualizationHook.')
        classes = (visualizer.dataset_meta or {}).get('classes')
        pred = int(sample.pred_label)
        score = float(torch.as_tensor(sample.pred_score)[pred])
        lines = [f'pred: {_class_name(pred, classes)} {score:.2f}']
        if 'gt_label' in sample:
            gt = int(sample.gt_label)
            lines.insert(0, f'GT: {_class_name(gt, classes)}')
        visualizer.set_image(self._image(inputs))
        visualizer.draw_texts(
            '\n'.join(lines),
            np.array([4, 4]),
            colors='white',
            font_sizes=12,
            vertical_alignments='top',
            bboxes=dict(facecolor='black', alpha=0.6, pad=2))
        return visualizer.get_image()

    def draw_batch(self, runner, batch_idx: int, data_batch: dict,
                   outputs: Sequence, mode: str) -> None:
        """Draw every sample of a batch."""
        visualizer = runner.visualizer
        folder = None
        if mode == 'test' and self.test_out_dir is not None:
            folder = osp.join(runner.work_dir, runner.timestamp,
                              self.test_out_dir)
        for i, (inputs,
                sample) in enumerate(zip(data_batch['inputs'], outputs)):
            drawing = self.draw_sample(visualizer, inputs, sample)
            idx = sample.metainfo.get('sample_idx')
            # A sample built by hand has no index: name it by position.
            stem = (f'batch{batch_idx}_{i}'
                    if idx is None else f'{int(idx):05d}')
            if self.show:
                visualizer.show(
                    drawing, win_name=stem, wait_time=self.wait_time)
            if folder is not None:
                atomic_write(
                    osp.join(folder, f'{stem}.png'), encode_png(drawing))
            else:
                visualizer.add_image(f'{mode}_{stem}', drawing, runner.iter)
        self.count(folder, len(outputs))
