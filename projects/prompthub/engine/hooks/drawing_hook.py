"""What the VICL and HGPrompt drawing hooks share: mmseg's interface."""
import warnings
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from projects.prompthub.utils.validation import check_count


class DrawingHook(Hook):
    """Base of hooks that draw validation/test samples, with the interface
    of mmseg's ``SegVisualizationHook`` (``draw``, ``interval``, ``show``,
    ``wait_time``, ``test_out_dir``).

    Batches ``0, interval, 2 * interval, ...`` are drawn, on the main
    process only; subclasses implement :meth:`draw_batch` and name what
    they draw in :attr:`drawn_what` for the per-epoch log line.

    Args:
        draw (bool): Whether to draw at all. Defaults to False.
        interval (int): Draw every ``interval``-th batch. Defaults to 50.
        show (bool): Display each drawing (the storage backends are then
            dropped, as in mmseg). Defaults to False.
        wait_time (float): Seconds a displayed drawing stays. Defaults
            to 0.
        test_out_dir (str, optional): Folder of the test drawings,
            relative to ``{work_dir}/{timestamp}``. Defaults to None.
    """

    priority = 'LOW'
    drawn_what = 'drawings written'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None) -> None:
        self.draw = bool(draw)
        self.interval = check_count(interval, 'interval', type(self).__name__)
        self.show = bool(show)
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self._drawn = {}

    def drop_backends_if_shown(self, runner) -> None:
        """As mmseg: a displayed drawing is not also stored."""
        if self.draw and self.show:
            runner.visualizer._vis_backends = {}
            warnings.warn('show=True: the drawings are displayed, not '
                          'stored in the visualizer\'s backends.')

    def draw_batch(self, runner, batch_idx: int, data_batch: dict,
                   outputs: Sequence, mode: str) -> None:
        """Draw one batch that is due; call :meth:`count` for the log."""
        raise NotImplementedError

    def count(self, folder: Optional[str], n: int) -> None:
        """Record ``n`` drawings sent to ``folder`` (None: the backends)."""
        where = folder or 'the visualizer backends'
        self._drawn[where] = self._drawn.get(where, 0) + n

    def _after_iter(self, runner, batch_idx: int, data_batch: dict,
                    outputs: Sequence, mode: str) -> None:
        # Hook.after_train_iter also lands here (mode 'train'): skip it.
        if (not self.draw or mode == 'train' or batch_idx % self.interval
                or not is_main_process() or not outputs):
            return
        self.draw_batch(runner, batch_idx, data_batch, outputs, mode)

    def _report(self) -> None:
        for where, count in self._drawn.items():
            print_log(f'{count} {self.drawn_what} {where}', logger='current')
        self._drawn = {}

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        """Draw the validation batches due."""
        self._after_iter(runner, batch_idx, data_batch, outputs, 'val')

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        """Draw the test batches due."""
        self._after_iter(runner, batch_idx, data_batch, outputs, 'test')

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Log where the drawings went."""
        self._report()

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Log where the drawings went."""
        self._report()
