"""The hook that draws VICL episodes during validation and testing."""
import os.path as osp
from typing import Optional, Sequence

from torch import Tensor

from projects.prompthub.evaluation.prediction_io import sample_stem
from projects.prompthub.registry import HOOKS
from projects.prompthub.visualization.vicl_local_visualizer import (
    VICLLocalVisualizer, query_image, set_episode_views)
from projects.prompthub.visualization.vicl_visualization import \
    fused_prompt_cells
from .drawing_hook import DrawingHook


def _head(batch: Optional[Tensor], n: int) -> Optional[Tensor]:
    """The first ``n`` episodes of a preprocessed batch tensor, if any."""
    return None if batch is None else batch[:n]


@HOOKS.register_module()
class VICLVisualizationHook(DrawingHook):
    """Draw validation/test episodes with the runner's visualizer.

    The interface of mmseg's ``SegVisualizationHook`` (``draw``,
    ``interval``, ``show``, ``wait_time``; ``tools/test.py --show`` and
    ``--show-dir`` switch it on) for a :class:`VICLLocalVisualizer`: each
    drawn query becomes a grid of its prompt pairs, the decoded fused
    prompt (PromptHub: what the fusion learned), the prediction and the
    ground truth. Grids go to

    - ``{work_dir}/{timestamp}/{test_out_dir}/{stem}.png`` in the test
      loop when ``test_out_dir`` is set (``--show-dir``; an absolute path
      is used as is);
    - else ``{work_dir}/{out_dir}/{val_iter_N|test}/{stem}.png`` when
      ``out_dir`` is set;
    - else the visualizer's storage backends (``LocalVisBackend``:
      ``vis_data/vis_image/``; ``TensorboardVisBackend``: TensorBoard)
      under the name ``{val|test}_{stem}``;

    with ``stem`` from
    :func:`~projects.prompthub.evaluation.prediction_io.sample_stem`.

    Batches ``0, interval, 2 * interval, ...`` are drawn (mmseg draws
    ``interval - 1, 2 * interval - 1, ...``; starting at 0 makes a short
    evaluation draw too), on the main process only, as mmseg.

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Draw every ``interval``-th batch. Defaults to 50.
        show (bool): Display each grid (the storage backends are then
            dropped, as in mmseg). Defaults to False.
        wait_time (float): Seconds each displayed grid stays. Defaults
            to 0.
        test_out_dir (str, optional): Folder of the test grids, relative
            to ``{work_dir}/{timestamp}``. Defaults to None.
        num_samples (int, optional): Queries drawn per drawn batch; None
            draws the whole batch. Defaults to None.
        out_dir (str, optional): Folder under the work dir for the grids
            of every validation (see above). Defaults to None.
    """

    drawn_what = 'episode grids written to'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None,
                 num_samples: Optional[int] = None,
                 out_dir: Optional[str] = None) -> None:
        super().__init__(draw, interval, show, wait_time, test_out_dir)
        self.num_samples = num_samples
        self.out_dir = out_dir

    def before_run(self, runner) -> None:
        """Check that the runner's visualizer can draw episodes."""
        if not self.draw:
            return
        visualizer = runner.visualizer
        if not isinstance(visualizer, VICLLocalVisualizer):
            raise TypeError(
                f'{type(self).__name__} draws with the runner\'s visualizer, '
                'which must be a VICLLocalVisualizer (mmseg\'s '
                'SegLocalVisualizer paints pred_sem_seg over the original '
                'image, but VICL predictions are canvas cells); got '
                f'{type(visualizer).__name__}. Set visualizer = '
                "dict(type='VICLLocalVisualizer', vis_backends=["
                "dict(type='LocalVisBackend')], name='visualizer') in the "
                'config (configs/_base_/default_runtime.py has it).')
        self.drop_backends_if_shown(runner)

    def _folder(self, runner, mode: str) -> Optional[str]:
        if mode == 'test' and self.test_out_dir is not None:
            return osp.join(runner.work_dir, runner.timestamp,
                            self.test_out_dir)
        if self.out_dir is not None:
            tag = 'test' if mode == 'test' else f'val_iter_{runner.iter}'
            return osp.join(runner.work_dir, self.out_dir, tag)
        return None

    def draw_batch(self, runner, batch_idx: int, data_batch: dict,
                   outputs: Sequence, mode: str) -> None:
        """Draw the first ``num_samples`` episodes of a batch as grids."""
        n = len(outputs)
        if self.num_samples is not None:
            n = min(n, self.num_samples)
        if n <= 0:
            return
        model = getattr(runner.model, 'module', runner.model)
        visualizer = runner.visualizer
        data = model.data_preprocessor(data_batch, False)
        inputs = _head(data['inputs'], n)
        fused = fused_prompt_cells(
            model, inputs, feature_pairs=_head(data.get('feature_pairs'), n))
        views = set_episode_views(outputs[:n], inputs, fused,
                                  visualizer.max_prompts)
        folder = self._folder(runner, mode)
        for i, view in enumerate(views):
            try:
                stem = sample_stem(view)
            except KeyError:  # a sample built by hand: name it by position
                stem = f'batch{batch_idx}_{i}'
            visualizer.add_datasample(
                f'{mode}_{stem}',
                query_image(inputs, i),
                view,
                show=self.show,
                wait_time=self.wait_time,
                out_file=None if folder is None else osp.join(
                    folder, f'{stem}.png'),
                step=runner.iter)
        self.count(folder, n)
