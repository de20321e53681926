"""PromptHub: multi-prompt visual in-context learning for OpenMMLab.

Importing the package registers every component (see ``registry.py``) and
applies the compatibility fixes of ``compat.py``.
"""
from . import compat  # noqa: F401  (must run before any checkpoint load)
from .apis import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .retrieval import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403

__version__ = '0.1.0'
