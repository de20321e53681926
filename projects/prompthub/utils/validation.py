"""Argument checks that name the bad argument, its value and the fix.

Config values reach constructors unchecked (``--cfg-options`` turns
``nan`` into a float and ``abc`` into a string), and a value such as
``prob_query=nan`` or ``num_prompts=0`` does not crash: it quietly
trains something else. Constructors call these helpers so that such a
value fails where it is used, with the owner and the key in the message.
"""
import math
import numbers
from typing import Any, Collection

from .config_references import unresolved_hint


def is_real_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (``bool`` is not)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def check_count(value: Any, name: str, owner: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer ``>= minimum``, else raise.

    Args:
        value: The argument.
        name (str): Its parameter name, e.g. ``'num_prompts'``.
        owner (str): The class (or config entry) it belongs to.
        minimum (int): Smallest allowed value. Defaults to 1.

    Returns:
        int: ``value`` as a Python int.

    Raises:
        ValueError: ``value`` is not an integer (floats such as ``2.0``
            included: a count written as a float is a typo) or is below
            ``minimum``.
    """
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < minimum):
        raise ValueError(
            f'{owner}: {name} must be an integer >= {minimum}, got '
            f'{value!r}. Set {name} to a whole number >= {minimum} in the '
            f'config.{unresolved_hint(value)}')
    return int(value)


def check_probability(value: Any, name: str, owner: str) -> float:
    """Return ``value`` if it is a finite number in [0, 1], else raise.

    ``nan`` fails every comparison, so a plain ``p < 0 or p > 1`` check
    lets it through; this one does not.

    Args:
        value: The argument.
        name (str): Its parameter name, e.g. ``'prob_query'``.
        owner (str): The class it belongs to.

    Returns:
        float: ``value`` as a Python float.

    Raises:
        ValueError: ``value`` is not a real number in [0, 1].
    """
    if not is_real_number(value) or not 0 <= value <= 1:
        raise ValueError(
            f'{owner}: {name} must be a probability in [0, 1], got '
            f'{value!r}. Set {name} to a number between 0 and 1 in the '
            'config.')
    return float(value)


def check_choice(value: Any, name: str, choices: Collection,
                 owner: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise.

    A mode string with a typo (``'fisher'`` for ``'fishr'``) would
    otherwise reach an ``if``/``else`` and quietly pick another branch.

    Args:
        value: The argument.
        name (str): Its parameter name, e.g. ``'split'``.
        choices (Collection): The accepted values, listed in the message.
        owner (str): The class (or function) it belongs to.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not in ``choices``.
    """
    if value not in choices:
        raise ValueError(f'{owner}: {name} must be one of {tuple(choices)}, '
                         f'got {value!r}. Set {name} to one of them.')
    return value
