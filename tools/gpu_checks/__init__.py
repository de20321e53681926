"""The checks of ``tools/gpu_check.py``, one module each, and what they share.

Every module imports the standard library alone at start: the set-up check
may first have to create the environment that the other checks import. What
needs torch or the project runs in a worker subprocess (:mod:`.worker`).
"""
