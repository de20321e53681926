from .accuracy import HGAccuracy

__all__ = ['HGAccuracy']
