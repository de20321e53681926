"""The CPU demo: train the fusion neck on the committed tiny backbone and
score it against every baseline (run by ``demo/cpu_demo.py``)."""
from .cpu_demo import run_demo, score_rows, set_iters, summarise

__all__ = ['run_demo', 'score_rows', 'set_iters', 'summarise']
