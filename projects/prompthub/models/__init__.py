"""Models: frozen backbones, fusion necks, losses and VICL segmentors."""
from .backbones import *  # noqa: F401,F403
from .data_preprocessor import VICLDataPreprocessor
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
