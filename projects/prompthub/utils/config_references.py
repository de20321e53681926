"""``${name}`` references from nested config values to top-level keys.

MMEngine evaluates a ``_base_`` before the config that inherits it, so a
child's ``fold = 1`` cannot reach the datasets its base already built with
fold 0. A base therefore writes the nested value as a reference,
``fold='${fold}'`` (or inside a string, ``'pascal_fold${fold}_trn.npz'``),
and the references are resolved once the whole config, its children and
``--cfg-options`` are merged: a child (or ``--cfg-options fold=1``) sets
``fold`` once and every dataset follows.

:func:`resolve_config_references` is called by every tool (through
:func:`~projects.prompthub.utils.apply_cfg_options`), by
:class:`~projects.prompthub.engine.runners.StrictLoadRunner` (so mmseg's
own ``tools/train.py`` resolves our configs too) and by the inferencer.
A value written explicitly (``fold=2`` instead of ``'${fold}'``) is left as
it is. A reference to a missing key, a cycle, or a container pasted into a
string raises :class:`ConfigReferenceError` naming the key and the fix.
"""
import copy
import re
from typing import Any, Dict, List

from mmengine.config import Config

#: ``${name}``: ``name`` is a top-level key of the config.
REFERENCE = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}')
#: Any ``${...}``, well-formed or not.
_ANY_REFERENCE = re.compile(r'\$\{[^}]*\}?')
#: What may be pasted into a longer string.
_SCALARS = (str, int, float, bool)


class ConfigReferenceError(ValueError):
    """A ``${name}`` reference that cannot be resolved."""


def has_reference(value: Any) -> bool:
    """Whether ``value`` is a string holding a ``${name}`` reference."""
    return isinstance(value, str) and REFERENCE.search(value) is not None


def referenced_names(node: Any) -> set:
    """The top-level names that the strings in ``node`` refer to."""
    if isinstance(node, str):
        return set(REFERENCE.findall(node))
    if isinstance(node, dict):
        node = list(node.values())
    if isinstance(node, (list, tuple)):
        return set().union(*map(referenced_names, node)) if node else set()
    return set()


def unresolved_hint(value: Any) -> str:
    """The fix to add to an error about ``value``, if it is a reference
    nobody resolved (a config loaded with a bare ``Config.fromfile``)."""
    if not has_reference(value):
        return ''
    return (f' ({value!r} is a config reference: load the config with '
            'projects.prompthub.utils.load_config or one of tools/*.py, '
            'or call projects.prompthub.utils.resolve_config_references('
            'cfg) before building it)')


class _Resolver:
    """Resolves the references of one config, each top-level key once."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.where = cfg.filename or 'the config'
        self.done: Dict[str, Any] = {}
        self.active: List[str] = []

    def top(self, name: str, path: str, value: str) -> Any:
        """The resolved value of top-level key ``name``."""
        if name in self.done:
            return self.done[name]
        if name in self.active:
            cycle = ' -> '.join(self.active[self.active.index(name):] + [name])
            raise ConfigReferenceError(
                f'{self.where}: the references form a cycle ({cycle}); '
                'give one of these keys a value.')
        if name not in self.cfg:
            raise ConfigReferenceError(
                f'{self.where}: {path}={value!r} refers to `{name}`, which '
                'is not a top-level key of the config; define '
                f'`{name} = ...` in the config (or its _base_) or pass '
                f'--cfg-options {name}=VALUE.')
        self.active.append(name)
        resolved = self.walk(self.cfg[name], name)
        self.active.pop()
        self.done[name] = resolved
        return resolved

    def string(self, value: str, path: str) -> Any:
        for found in _ANY_REFERENCE.findall(value):
            if not REFERENCE.fullmatch(found):
                raise ConfigReferenceError(
                    f'{self.where}: {path}={value!r} holds {found!r}, which '
                    'is not a reference: write ${name} with `name` a '
                    'top-level key of the config (letters, digits, _).')
        whole = REFERENCE.fullmatch(value)
        if whole:
            return copy.deepcopy(self.top(whole.group(1), path, value))

        def paste(match: 're.Match') -> str:
            target = self.top(match.group(1), path, value)
            if not isinstance(target, _SCALARS):
                raise ConfigReferenceError(
                    f'{self.where}: {path}={value!r} pastes `'
                    f'{match.group(1)}` ({type(target).__name__}) into a '
                    'string; only str, int, float and bool can be pasted. '
                    f"Write {path}='${{{match.group(1)}}}' alone to use "
                    'the value itself.')
            return str(target)

        return REFERENCE.sub(paste, value)

    def walk(self, node: Any, path: str) -> Any:
        """``node`` with its references resolved; dicts and lists in
        place (a ConfigDict keeps its type), tuples rebuilt."""
        if isinstance(node, str):
            return self.string(node, path) if '${' in node else node
        if isinstance(node, dict):
            for key in list(node.keys()):
                node[key] = self.walk(node[key], f'{path}.{key}')
            return node
        if isinstance(node, list):
            for i, item in enumerate(node):
                node[i] = self.walk(item, f'{path}.{i}')
            return node
        if isinstance(node, tuple):
            return type(node)(self.walk(item, f'{path}.{i}')
                              for i, item in enumerate(node))
        return node


def resolve_config_references(cfg: Config) -> Config:
    """Replace every ``${name}`` in ``cfg`` by the top-level ``name``.

    A string that is one reference becomes the value itself (any type, a
    copy); a reference inside a longer string is pasted as text. Resolving
    twice changes nothing.

    Args:
        cfg (Config): The merged config (after ``--cfg-options``); updated
            in place.

    Returns:
        Config: ``cfg``.

    Raises:
        ConfigReferenceError: A missing key, a cycle, or a dict/list pasted
            into a string; the message names the key and the fix.
    """
    resolver = _Resolver(cfg)
    for name in list(cfg.keys()):
        cfg[name] = resolver.top(name, name, '')
    return cfg
