"""Checks of ``--cfg-options`` and of config values before a run starts.

MMEngine's ``Config.merge_from_dict`` creates every key it is given, so a
typo such as ``trian_cfg.max_epochs=1`` adds an unused ``trian_cfg`` and
the run trains with the config's own ``max_epochs``. :func:`apply_cfg_options`
merges the options only after every key passed :func:`check_cfg_options`:

- a key that already exists in the config is accepted;
- a new key is accepted when it is a parameter of the class that will
  receive it: the class named by the ``type`` of the dict holding the key
  (looked up in the registries under the config's ``default_scope``, its
  ``__init__`` signature read along the MRO while ``**kwargs`` are passed
  on), or the known consumer of a type-less dict (the Runner for the top
  level, ``torch.utils.data.DataLoader`` for ``*_dataloader``, ...);
  keys below such a new dict parameter are left to the class receiving
  it, unless the parameter's default is a non-empty dict, which the new
  dict would replace (refused);
- anything else raises :class:`CfgOptionError` naming the key, the
  closest existing keys and the fix, before any component is built;
- so does a top-level variable that nothing reads (``data_root = ...``
  copied into the datasets when the file was read): only a key that a
  ``'${name}'`` reference, the Runner, or a tool reads
  (:data:`READ_TOP_LEVEL`) may be set at the top level.

A key prefixed with ``+`` (``+model.neck.my_flag=1``) is merged without
the check, for a key read by code this module cannot see.

:func:`apply_cfg_options` then runs :func:`check_optimizer_values`: every
numeric hyper-parameter of the optimizer (``lr``, ``momentum``, ``betas``,
...) must be a finite real number, so ``lr=abc``, ``lr=nan`` or
``lr=True`` fail with the key's name instead of deep inside torch (or not
at all).
"""
import difflib
import importlib
import inspect
import logging
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Set, Tuple, Union)

from mmengine.config import Config
from mmengine.logging import print_log

from .config_references import referenced_names, resolve_config_references
from .validation import is_real_number

#: Prefix of a ``--cfg-options`` key that is merged without the check.
NEW_KEY_PREFIX = '+'
#: Top-level keys that code reads from the config (besides the Runner's
#: parameters and the ``'${name}'`` references): mmengine's Runner and
#: our runner, the tools (``retrieval``, HGPrompt's ``protocol``), mmseg.
READ_TOP_LEVEL = frozenset({
    'runner_type', 'load_from_allow', 'model_wrapper_cfg',
    'find_unused_parameters', 'compile', 'strategy', 'custom_imports',
    'launcher', 'retrieval', 'test_retrieval', 'protocol', 'tta_model',
    'tta_pipeline'
})

#: What accepts the keys of a dict: callables (their parameters) and names.
Schema = Sequence[Union[Callable, str]]
Path = Tuple[Union[str, int], ...]


class CfgOptionError(ValueError):
    """A ``--cfg-options`` key names nothing the config or its classes
    accept."""


def _dataloader_schema() -> Schema:
    from torch.utils.data import DataLoader

    # Keys mmengine's Runner.build_dataloader pops before DataLoader(**).
    return (DataLoader, 'dataset', 'sampler', 'batch_sampler', 'collate_fn',
            'worker_init_fn', 'num_batch_per_epoch',
            'disable_subprocess_warning')


def _implicit_schema(path: Path, cfg: Config,
                     schemas: Optional[Dict[str, Schema]]) -> Schema:
    """The consumers of the dict at ``path`` that its ``type`` (if any)
    does not name: what mmengine's Runner builds such dicts with, or what
    the calling tool says (``schemas``, keyed by dotted path)."""
    from mmengine.dist import init_dist
    from mmengine.registry import RUNNERS
    from mmengine.runner import LogProcessor, Runner
    from mmengine.utils.dl_utils import set_multi_processing

    dotted = '.'.join(str(p) for p in path)
    if schemas and dotted in schemas:
        return tuple(schemas[dotted])
    if path == ():
        runner = cfg.get('runner_type', Runner)
        if isinstance(runner, str):
            runner = RUNNERS.get(runner) or Runner
        # Runner.from_cfg passes the keys named like Runner.__init__'s
        # parameters; the Runner reads the last two from its cfg.
        return (runner, 'runner_type', 'custom_imports', 'model_wrapper_cfg',
                'compile')
    name = path[-1] if len(path) == 1 else None
    if isinstance(name, str) and name.endswith('_dataloader'):
        return _dataloader_schema()
    table: Dict[Path, Schema] = {
        ('env_cfg', ):
        ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit'),
        ('env_cfg', 'mp_cfg'): (set_multi_processing, ),
        ('env_cfg', 'dist_cfg'): (init_dist, ),
        ('randomness', ): (Runner.set_randomness, ),
        ('log_processor', ): (LogProcessor, ),
        # Popped by the optimizer wrapper constructor, not the wrapper.
        (
            'optim_wrapper', ): ('constructor', 'paramwise_cfg', 'optimizer'),
        ('optim_wrapper', 'paramwise_cfg'):
        ('custom_keys', 'bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult',
         'dwconv_decay_mult', 'flat_decay_mult', 'bypass_duplicate'),
    }
    return table.get(path, ())


def _scope(cfg: Config) -> Optional[str]:
    """The config's ``default_scope``, else the current default scope."""
    from mmengine.registry import DefaultScope
    if cfg.get('default_scope'):
        return cfg.default_scope
    current = DefaultScope.get_current_instance()
    return current.scope_name if current is not None else None


def _registries() -> list:
    import mmengine.registry as registry
    return [
        getattr(registry, name) for name in registry.__all__
        if isinstance(getattr(registry, name), registry.Registry)
    ]


def resolve_type(type_: Any, scope: Optional[str]) -> list:
    """Every registered object named ``type_`` under ``scope``.

    Args:
        type_: The ``type`` of a config dict (a name or the object).
        scope (str, optional): The default scope (e.g. ``'mmseg'``); its
            child registries are searched first, then the roots.

    Returns:
        list: The distinct objects found in any registry (usually one).
    """
    if not isinstance(type_, str):
        return [type_] if callable(type_) else []
    if scope:
        try:
            importlib.import_module(f'{scope}.registry')
        except ImportError:
            pass
    found: list = []
    for root in _registries():
        registry = root.children.get(scope, root) if scope else root
        try:
            obj = registry.get(type_)
        except Exception:  # e.g. RuntimeError for a dotted unknown name
            obj = None
        if obj is not None and obj not in found:
            found.append(obj)
    return found


def accepted_parameters(obj: Any) -> Tuple[Set[str], bool]:
    """Keyword parameters of a class (``__init__`` along the MRO while it
    passes ``**kwargs`` on) or a function.

    Returns:
        tuple: The names, and whether they are all of them (``False`` when
        ``**kwargs`` end up somewhere the signatures do not show).
    """
    if inspect.isclass(obj):
        import torch
        stops = (object, torch.nn.Module)  # both reject unknown kwargs
        functions = [
            klass.__dict__['__init__'] for klass in obj.__mro__
            if '__init__' in klass.__dict__ and klass not in stops
        ]
        skip_first = True
    else:
        functions, skip_first = [obj], False
    names: Set[str] = set()
    for function in functions:
        try:
            params = list(inspect.signature(function).parameters.values())
        except (TypeError, ValueError):  # builtin without a signature
            return names, False
        if skip_first:
            params = params[1:]
        names.update(
            p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names, True
    # A class's last ``**kwargs`` reach object / nn.Module, which reject
    # unknown keys; a function's stay open.
    return names, inspect.isclass(obj)


def _format_value(value: Any) -> str:
    """A parsed ``--cfg-options`` value as the user would type it."""
    if isinstance(value, list):
        return '[' + ','.join(_format_value(v) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ','.join(_format_value(v) for v in value) + ')'
    return str(value)


def _is_mapping(node: Any) -> bool:
    return isinstance(node, (dict, Config))


def _join(path: Sequence) -> str:
    return '.'.join(str(p) for p in path) or '<top level>'


class _Problem(Exception):
    """Why the keys a dict may gain are unknown."""


def _suggest(key: str, candidates: Iterable[str]) -> List[str]:
    return difflib.get_close_matches(
        key, sorted({str(c)
                     for c in candidates}), n=3, cutoff=0.6)


def _schema(schema: Schema, node: Any, type_: Any,
            scope: Optional[str]) -> tuple:
    """What the dict ``node`` of type ``type_`` (``None``: none) may gain:
    ``(names, closed, consumers)``, ``closed`` being whether ``names`` are
    all of them."""
    names: Set[str] = set()
    consumers: List[Any] = []
    if type_ is not None:
        names.update(('type', '_scope_'))
        scope = node.get('_scope_', scope)
        found = resolve_type(type_, scope)
        if not found:
            raise _Problem(f'its type {type_!r} is not registered under scope '
                           f'{scope!r}, so its parameters are unknown')
        consumers += found
    for item in schema:
        if isinstance(item, str):
            names.add(item)
        else:
            consumers.append(item)
    if not consumers and not schema:
        raise _Problem('it has no `type` naming a class that could take '
                       'the key')
    closed = True
    for consumer in consumers:
        params, complete = accepted_parameters(consumer)
        names |= params
        closed = closed and complete
    return names, closed, consumers


def _default(consumers: List[Any], name: str) -> Any:
    """The default of parameter ``name`` of the first consumer that has
    one (``None`` if none has)."""
    for consumer in consumers:
        for klass in (consumer.__mro__ if inspect.isclass(consumer) else
                      (consumer, )):
            function = (
                klass.__dict__.get('__init__')
                if inspect.isclass(consumer) else klass)
            try:
                param = inspect.signature(function).parameters.get(name)
            except (TypeError, ValueError):
                continue
            if param is not None and param.default is not param.empty:
                return param.default
    return None


def _owners(consumers: List[Any]) -> str:
    return ' / '.join(getattr(c, '__qualname__', repr(c))
                      for c in consumers) or 'it'


def _check_key(cfg: Config, key: str, value: Any, scope: Optional[str],
               schemas: Optional[Dict[str, Schema]],
               new_types: Dict[Tuple[str, ...], Any]) -> Optional[str]:
    """``None`` if ``key`` may be merged, else the reason and the fix.

    ``new_types`` are the ``type`` values the options set (by the path of
    their dict): a new key is checked against the type it will be built
    with.
    """
    parts = key.split('.')
    node: Any = cfg
    path: Path = ()
    option = f'{key}={_format_value(value)}'
    for i, part in enumerate(parts):
        if isinstance(node, list) and part.isdigit():
            if int(part) >= len(node):
                return (f'{option}: {_join(path)} is a list of {len(node)} '
                        f'item(s), index {part} does not exist.')
            node, path = node[int(part)], path + (int(part), )
            continue
        if not _is_mapping(node):
            kind = 'a list' if isinstance(node, list) else repr(node)
            return (f'{option}: {_join(path)} is {kind}, not a dict, so it '
                    f'has no key {part!r}. Set {_join(path)} as a whole '
                    'in the config instead.')
        if part in node:
            node, path = node[part], path + (part, )
            continue
        # A key the config does not have: legitimate only as a parameter
        # of what receives this dict.
        where = _join(path)
        existing = list(node.keys())
        type_ = new_types.get(tuple(str(p) for p in path), node.get('type'))
        try:
            names, closed, consumers = _schema(
                _implicit_schema(path, cfg, schemas), node, type_, scope)
        except _Problem as reason:
            return _message(option, where, part, _suggest(part, existing),
                            parts, i, f', and {reason}')
        owners = _owners(consumers)
        if part not in names and not closed:
            print_log(
                f'--cfg-options {option}: {where} has no key {part!r}; it '
                f'is merged unchecked because {owners} pass(es) **kwargs '
                'on. Check its spelling.',
                logger='current',
                level=logging.WARNING)
            return None
        if part not in names:
            return _message(option, where, part,
                            _suggest(part, existing + list(names)), parts, i,
                            f', and {part!r} is not a parameter of {owners}')
        default = _default(consumers, part)
        if i < len(parts) - 1 and isinstance(default, dict) and default:
            # mmengine would pass only the given sub-keys and drop the
            # rest of the default dict.
            return (f'{option}: {where} has no key {part!r}; setting it '
                    f'would replace the whole default {part}={default!r} '
                    f'of {owners} by the given sub-key(s) only. Copy the '
                    f'default into the config ({where}.{part}=dict(...)) '
                    'and change it there.')
        # The keys below a new dict parameter are checked by the class
        # that receives it, when it is built.
        return None
    return None


def _read_top_level(cfg: Config, schemas: Optional[Dict[str,
                                                        Schema]]) -> Set[str]:
    """The top-level keys something reads: the Runner's parameters,
    :data:`READ_TOP_LEVEL`, the tool's ``schemas`` and the names the
    config's ``'${name}'`` references use."""
    from mmengine.runner import Runner
    names = set(inspect.signature(Runner.__init__).parameters)
    names |= READ_TOP_LEVEL | {key.split('.')[0] for key in schemas or {}}
    return names | referenced_names(cfg.to_dict())


def _uses(node: Any, value: Any, path: str = '') -> List[str]:
    """Dotted paths below ``node`` that hold ``value`` (a scalar)."""
    if _is_mapping(node):
        items = [(f'{path}.{k}' if path else str(k), v)
                 for k, v in node.items()]
    elif isinstance(node, (list, tuple)):
        items = [(f'{path}.{i}', v) for i, v in enumerate(node)]
    else:
        return [path] if path.count('.') and node == value else []
    return [p for sub, v in items for p in _uses(v, value, sub)]


def _unread_message(cfg: Config, option: str, top: str) -> str:
    """Why setting the top-level variable ``top`` would change nothing."""
    value, read = cfg[top], _read_top_level(cfg, None)
    # Where the value reappears, for a path or a number (a short word such
    # as 'holdout' reappears by coincidence).
    telling = (isinstance(value, str)
               and '/' in value) or (isinstance(value, (int, float))
                                     and not isinstance(value, bool))
    uses = [p for p in _uses(cfg, value)
            if p.split('.')[0] in read] if telling else []
    where = (f' It was copied to {", ".join(uses[:3])}'
             f'{" ..." if len(uses) > 3 else ""}; set those keys instead,'
             if uses else ' Set the keys that use it instead,')
    source = cfg.filename or 'the config'
    return (f'{option}: `{top}` is a top-level variable of {source}, '
            'copied where the file used it when it was read, so changing '
            f'it changes nothing.{where} or write '
            f"'${{{top}}}' where the config uses it. To merge it anyway "
            f'(for code these checks cannot see), write '
            f'{NEW_KEY_PREFIX}{option}')


def _message(option: str, where: str, part: str, close: List[str],
             parts: List[str], i: int, reason: str) -> str:
    """The error line of one key: what is missing, the closest existing
    keys with the corrected option, and the escape hatch."""
    text = f'{option}: {where} has no key {part!r}{reason}.'
    if close:
        fixed = '.'.join(parts[:i] + [close[0]] + parts[i + 1:])
        value = option.split('=', 1)[1]
        text += (f' Closest existing: {", ".join(close)}. Did you mean '
                 f'{fixed}={value} ?')
    text += (' To add the key anyway (for code these checks cannot see), '
             f'write {NEW_KEY_PREFIX}{option}')
    return text


def check_cfg_options(cfg: Config,
                      options: Optional[dict],
                      schemas: Optional[Dict[str, Schema]] = None) -> dict:
    """Check the keys of ``--cfg-options`` against ``cfg``.

    Args:
        cfg (Config): The loaded config (``custom_imports`` done).
        options (dict, optional): Parsed ``--cfg-options`` (``DictAction``).
        schemas (dict, optional): For type-less dicts that a tool (not
            the Runner) consumes: dotted path -> callables whose
            parameters, and names, the dict may gain, e.g.
            ``{'retrieval': (build_retrieval_index, 'out')}``.

    Returns:
        dict: The options to merge (the ``+`` prefix removed).

    Raises:
        CfgOptionError: Some key is neither in the config nor a parameter
            of the class that receives it; every such key is listed.
    """
    if not options:
        return {}
    scope = _scope(cfg)
    new_types = {
        tuple(key.lstrip(NEW_KEY_PREFIX).split('.')[:-1]): value
        for key, value in options.items() if key.split('.')[-1] == 'type'
    }
    merged, problems = {}, []
    read = _read_top_level(cfg, schemas)
    for key, value in options.items():
        if key.startswith(NEW_KEY_PREFIX):
            merged[key[len(NEW_KEY_PREFIX):]] = value
            continue
        top = key.split('.')[0]
        if top in cfg and top not in read:
            problem = _unread_message(cfg, f'{key}={_format_value(value)}',
                                      top)
        else:
            problem = _check_key(cfg, key, value, scope, schemas, new_types)
        if problem:
            problems.append(problem)
        merged[key] = value
    if problems:
        raise CfgOptionError(
            f'{len(problems)} --cfg-options key(s) refused; nothing was '
            'merged or run:\n  ' + '\n  '.join(problems))
    return merged


def _check_numbers(opt_cfg: dict, path: str, scope: Optional[str],
                   problems: List[str]) -> None:
    """Numeric hyper-parameters of one optimizer dict must be finite."""
    numeric = {'lr'}  # ``lr`` may have no default (older torch)
    shapes: Dict[str, int] = {}
    for obj in resolve_type(opt_cfg.get('type'), scope):
        try:
            params = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            default = p.default
            if is_real_number(default):
                numeric.add(p.name)
            elif (isinstance(default, tuple) and default
                  and all(is_real_number(d) for d in default)):
                shapes[p.name] = len(default)
    for name, value in opt_cfg.items():
        if name in numeric and not is_real_number(value):
            problems.append(
                f'{path}.{name}={_format_value(value)} '
                f'({type(value).__name__}): must be a finite number, e.g. '
                f'--cfg-options {path}.{name}=0.01.')
        elif name in shapes and not (isinstance(value, (list, tuple))
                                     and len(value) == shapes[name]
                                     and all(is_real_number(v)
                                             for v in value)):
            problems.append(
                f'{path}.{name}={_format_value(value)}: must be '
                f'{shapes[name]} finite numbers, e.g. --cfg-options '
                f'"{path}.{name}=({",".join(["0.9"] * shapes[name])})".')


def check_optimizer_values(cfg: Config) -> None:
    """Check the numbers of every optimizer under ``optim_wrapper``.

    Every parameter whose default is a real number (or a tuple of them,
    e.g. ``betas``), and ``lr``, must be a finite real number: ``bool``,
    strings, ``nan`` and ``inf`` are rejected. ``*lr_mult``/``*decay_mult``
    of ``paramwise_cfg`` likewise.

    Args:
        cfg (Config): The config after ``--cfg-options``.

    Raises:
        ValueError: Naming every offending key and its value.
    """
    problems: List[str] = []
    scope = _scope(cfg)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if path.endswith('optimizer') and 'type' in node:
                _check_numbers(node, path, scope, problems)
            for key, value in node.items():
                sub = f'{path}.{key}'
                multiplier = isinstance(key, str) and key.endswith(
                    ('lr_mult', 'decay_mult'))
                if multiplier and not is_real_number(value):
                    problems.append(
                        f'{sub}={_format_value(value)}: must be a finite '
                        'number.')
                walk(value, sub)
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{path}.{i}')

    if cfg.get('optim_wrapper') is not None:
        walk(cfg.optim_wrapper, 'optim_wrapper')
    if problems:
        raise ValueError(
            'Invalid optimizer settings (fix them in the config or with '
            '--cfg-options):\n  ' + '\n  '.join(problems))


def apply_cfg_options(cfg: Config,
                      options: Optional[dict],
                      schemas: Optional[Dict[str, Schema]] = None) -> None:
    """Merge ``--cfg-options`` into ``cfg`` after checking them.

    The tools' one call: :func:`check_cfg_options` (unknown keys raise,
    ``+key`` adds a key unchecked), ``cfg.merge_from_dict``, the config's
    ``${name}`` references resolved (:mod:`.config_references`, so
    ``--cfg-options fold=1`` reaches every dataset), then
    :func:`check_optimizer_values` (also when ``options`` is empty: a
    config file can hold a bad number too).

    Args:
        cfg (Config): The loaded config; updated in place.
        options (dict, optional): Parsed ``--cfg-options``.
        schemas (dict, optional): See :func:`check_cfg_options`.
    """
    merged = check_cfg_options(cfg, options, schemas)
    if merged:
        cfg.merge_from_dict(merged)
    resolve_config_references(cfg)
    check_optimizer_values(cfg)


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                **fromfile_kwargs) -> Config:
    """``Config.fromfile`` with checked ``--cfg-options`` and resolved
    references: the config exactly as the tools run it.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): Parsed ``--cfg-options``.
        **fromfile_kwargs: Passed to ``Config.fromfile`` (e.g.
            ``import_custom_modules=False``).
    """
    cfg = Config.fromfile(path, **fromfile_kwargs)
    apply_cfg_options(cfg, cfg_options)
    return cfg
