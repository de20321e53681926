"""Collect what components log through mmengine's current logger."""
import contextlib
import logging
from typing import Iterator, List

from mmengine.logging import MMLogger


@contextlib.contextmanager
def logged_messages(level: int = logging.NOTSET) -> Iterator[List[str]]:
    """Yield a list that receives every message of ``level`` or above
    logged through the current :class:`MMLogger` inside the block."""
    messages = []
    handler = type('H', (logging.Handler, ), {
        'emit': lambda self, rec: messages.append(rec.getMessage())
    })(
        level)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
