"""The model index and the README tables generated from it.

``model-index.yml`` at the repository root imports the metafiles
(OpenMMLab's model-index format, as mmseg's ``configs/*/metafile.yaml``):
``configs/metafile.yaml`` for the PromptHub configs (``configs/prompthub/``,
``configs/maevqgan/`` and the entry point ``configs/prompthub_seg.py``),
listed in ``configs/README.md`` next to it, and
``configs/hgprompt/metafile.yaml``. Besides the standard fields, a model
carries ``Metadata.Task`` and, for PromptHub, ``Metadata.Prompts`` (N),
``Description`` (what the config is for), ``Published In`` (where the
number in ``Results`` was published), ``Note`` (qualifies the number or
says why there is none), ``Converted From.Weights`` (the released
checkpoint the config reproduces, mmpretrain's key) and, once measured,
``Reproduced.Metrics`` (the published number as this code measures it
with that checkpoint; the README shows it as "ours").

The configs tables of ``configs/README.md`` and
``configs/hgprompt/README.md`` and the results tables of ``README.md``
(one per task and data) are generated from the index between marker
comments (``tools/misc/update_model_index_tables.py``), so a number is
written once.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import yaml

from .atomic_io import atomic_write

MODEL_INDEX = 'model-index.yml'
#: Metric keys whose numbers read better with their unit.
UNITS = {'vicl/mse': ' MSE'}
#: Collections whose configs must state N (``Metadata.Prompts``).
PROMPT_COLLECTIONS = ('PromptHub', )
FIX = ('fix the entry in {metafile} (see the comment at its top), then run '
       'python tools/misc/update_model_index_tables.py')


class ModelIndexError(ValueError):
    """The model index or a generated table's markers are malformed."""


def _load_yaml(path: str) -> dict:
    if not osp.isfile(path):
        raise ModelIndexError(f'{path} does not exist')
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ModelIndexError(f'{path}: expected a mapping at the top level')
    return data


def load_model_index(root: str) -> List[dict]:
    """All models of the metafiles that ``<root>/model-index.yml`` imports.

    Args:
        root (str): The repository root.

    Returns:
        list[dict]: The models in file order, each with ``'_metafile'``
        (its metafile, relative to ``root``) added.
    """
    index_file = osp.join(root, MODEL_INDEX)
    imports = _load_yaml(index_file).get('Import')
    if not isinstance(imports, list) or not imports:
        raise ModelIndexError(
            f'{index_file}: "Import" must list the metafiles, e.g. '
            '"Import: [configs/metafile.yaml]"')
    models = []
    for metafile in imports:
        path = osp.join(root, metafile)
        if not osp.isfile(path):
            raise ModelIndexError(
                f'{index_file} imports {metafile}, which does not exist: '
                'remove the line or add the metafile')
        for model in _load_yaml(path).get('Models') or []:
            models.append(dict(model, _metafile=metafile))
    return models


def listed_configs(root: str) -> List[str]:
    """Every config file under ``<root>/configs`` outside ``_base_``
    folders, relative to ``root``, sorted."""
    found = []
    for folder, dirs, files in os.walk(osp.join(root, 'configs')):
        dirs[:] = sorted(d for d in dirs if d not in ('_base_', '__pycache__'))
        found += [
            osp.relpath(osp.join(folder, name), root) for name in files
            if name.endswith('.py')
        ]
    return sorted(found)


def check_model_index(root: str) -> List[str]:
    """What is wrong with the model index, as messages that name the
    metafile, the model, the key and the fix; empty when it is complete.

    Checks that every config is listed once and every listed config
    exists, that each model states its task (and N for PromptHub), and
    that each result names its task, dataset, numeric metrics and source.
    """
    errors = []
    models = load_model_index(root)
    seen: Dict[str, str] = {}
    names = set()
    for model in models:
        metafile = model['_metafile']
        name = model.get('Name')
        where = f'{metafile}: model {name!r}'
        fix = FIX.format(metafile=metafile)
        if not name or name in names:
            errors.append(f'{where}: "Name" is missing or repeated; {fix}')
        names.add(name)
        config = model.get('Config')
        if not config or not osp.isfile(osp.join(root, config)):
            errors.append(f'{where}: "Config: {config}" is not a file under '
                          f'{root}; {fix}')
        elif config in seen:
            errors.append(f'{where}: {config} is listed again (first in '
                          f'{seen[config]}); {fix}')
        else:
            seen[config] = where
        meta = model.get('Metadata') or {}
        if not meta.get('Task'):
            errors.append(f'{where}: "Metadata.Task" is missing; {fix}')
        prompts = meta.get('Prompts')
        if model.get('In Collection') in PROMPT_COLLECTIONS and not (
                isinstance(prompts, int) and prompts >= 1):
            errors.append(f'{where}: "Metadata.Prompts" (N) must be a '
                          f'positive integer, got {prompts!r}; {fix}')
        results = model.get('Results') or []
        errors += _check_reproduced(model, results, where, fix)
        if results and not model.get('Published In'):
            errors.append(f'{where}: "Published In" (the source of the '
                          f'number) is missing; {fix}')
        for result in results:
            if result.get('Task') != meta.get(
                    'Task') or not result.get('Dataset'):
                errors.append(f'{where}: a result needs "Task" equal to '
                              f'Metadata.Task and a "Dataset"; {fix}')
            metrics = result.get('Metrics')
            if not metrics or not all(
                    isinstance(v, (int, float)) for v in metrics.values()):
                errors.append(f'{where}: "Metrics" must map metric keys to '
                              f'numbers, got {metrics!r}; {fix}')
    for config in listed_configs(root):
        if config not in seen:
            metafile = _metafile_for(config, models)
            errors.append(
                f'{config} is not in the model index: add a model with '
                f'"Config: {config}" to {metafile} (Name, In Collection, '
                'Description, Metadata.Task/Prompts, Results if a number is '
                'published), then run '
                'python tools/misc/update_model_index_tables.py')
    return errors


def _check_reproduced(model: dict, results: List[dict], where: str,
                      fix: str) -> List[str]:
    """``Reproduced`` (optional) must give our number for each published
    metric key of ``Results``, so the README's "ours" sits next to it."""
    reproduced = model.get('Reproduced')
    if reproduced is None:
        return []
    metrics = reproduced.get('Metrics') if isinstance(reproduced,
                                                      dict) else None
    published = [set(r.get('Metrics') or {}) for r in results]
    if not isinstance(metrics, dict) or not metrics or not all(
            isinstance(v, (int, float))
            for v in metrics.values()) or set(metrics) not in published:
        return [
            f'{where}: "Reproduced.Metrics" must map the metric keys of '
            f'"Results" ({sorted(set().union(*published))}) to the numbers '
            f'measured with this code, got {reproduced!r}; {fix}'
        ]
    return []


def _metafile_for(config: str, models: List[dict]) -> str:
    """The metafile whose configs share ``config``'s folder."""
    folder = osp.dirname(config)
    for model in models:
        if osp.dirname(model.get('Config') or '') == folder:
            return model['_metafile']
    return osp.join(folder, 'metafile.yaml')


def _number(model: dict) -> Tuple[str, float]:
    """The (metric key, value) of a model's single published number."""
    (result, ) = model['Results']
    ((key, value), ) = result['Metrics'].items()
    return key, value


def _cell(text: str) -> str:
    return str(text).replace('|', '\\|')


def render_configs_table(
        models: List[dict],
        folder: str,
        number: str = 'published number (mIoU, or MSE)') -> str:
    """The table of ``<folder>/README.md``: one row per model of the
    metafile in ``folder`` (relative to the root), in metafile order, each
    config named relative to ``folder``, with ``number`` as the heading of
    the last column."""
    lines = [
        f'| config | purpose | {number} |',
        '|---|---|---|',
    ]
    for model in models:
        config = model['Config']
        if osp.dirname(model['_metafile']) != folder:
            continue
        if model.get('Results'):
            key, value = _number(model)
            number = f'{value}{UNITS.get(key, "")}'
        else:
            number = 'none'
        if model.get('Note'):
            number += f' ({model["Note"]})'
        lines.append(f'| `{osp.relpath(config, folder)}` | '
                     f'{_cell(model.get("Description", ""))} | '
                     f'{_cell(number)} |')
    return '\n'.join(lines)


def _family(dataset: str) -> str:
    """A dataset name without its fold: ``'Pascal-5i fold 0 val'`` ->
    ``'Pascal-5i val'``, so the folds of one protocol share a table."""
    return re.sub(r'\s+fold\s+\d+', '', dataset)


def _reproduced(model: dict, key: str) -> str:
    """Our own measurement of the published number (``Reproduced``), or
    ``'not run'``."""
    metrics = (model.get('Reproduced') or {}).get('Metrics') or {}
    return str(metrics[key]) if key in metrics else 'not run'


def render_results_table(models: List[dict]) -> str:
    """The results of the top README: one table per protocol (task,
    training data and test data without their folds), one row per test
    split and N, with the published number, ours (``Reproduced``, else
    ``'not run'``), the config and the released checkpoint. Configs that
    reproduce the same cell must agree on its number and checkpoint; the
    row names the first of them in metafile order."""
    tables: 'OrderedDict[tuple, dict]' = OrderedDict()
    for model in models:
        if not model.get('Results'):
            continue
        key, value = _number(model)
        meta = model['Metadata']
        (result, ) = model['Results']
        table = tables.setdefault(
            (meta['Task'], _family(meta.get(
                'Training Data', '')), _family(result['Dataset']), key),
            dict(rows={}, sources=[]))
        weights = (model.get('Converted From') or {}).get('Weights', '')
        cell = (value, weights)
        row = table['rows'].setdefault((result['Dataset'], meta['Prompts']),
                                       (cell, model))
        if row[0] != cell:
            raise ModelIndexError(
                f'{model["_metafile"]}: {model["Name"]} gives {cell} for '
                f'N = {meta["Prompts"]} of {result["Dataset"]}, but '
                f'{row[1]["Name"]} gives {row[0]}: configs that reproduce '
                'the same number must agree')
        if model['Published In'] not in table['sources']:
            table['sources'].append(model['Published In'])
    # Tables of one task next to each other, else in metafile order.
    tasks = list(OrderedDict.fromkeys(task for task, *_ in tables))
    blocks = []
    for (task, train, test, key), table in sorted(
            tables.items(), key=lambda item: tasks.index(item[0][0])):
        lines = [
            f'### {task}: ' + (f'trained on {train}, ' if train else '') +
            f'tested on {test}', '',
            f'| method | tested on | N | published (`{key}`) | ours | '
            'config | released checkpoint |', '|---|---|---|---|---|---|---|'
        ]
        datasets = list(OrderedDict.fromkeys(d for d, _ in table['rows']))
        for (dataset, n), ((value, weights), model) in sorted(
                table['rows'].items(),
                key=lambda item: (datasets.index(item[0][0]), item[0][1])):
            config = model['Config']
            lines.append(
                f'| {_cell(model["In Collection"])} | {_cell(dataset)} | '
                f'{n} | {value} | '
                f'{_reproduced(model, key)} | '
                f'[{osp.basename(config)}]({config}) | '
                f'{f"`{weights}`" if weights else ""} |')
        lines += ['', f'Published in: {", ".join(table["sources"])}.']
        blocks.append('\n'.join(lines))
    return '\n\n'.join(blocks)


#: Markdown file -> (table name, renderer).
TABLES: Dict[str, Tuple[str, Callable[[List[dict]], str]]] = {
    'README.md': ('results', render_results_table),
    osp.join('configs', 'README.md'):
    ('configs', lambda models: render_configs_table(models, 'configs')),
    osp.join('configs', 'hgprompt', 'README.md'):
    ('configs', lambda models: render_configs_table(
        models, 'configs/hgprompt', 'published number (top-1 %)')),
}


def _markers(name: str) -> Tuple[str, str]:
    return (f'<!-- model-index:{name} generated from model-index.yml by '
            'tools/misc/update_model_index_tables.py; edit the metafile '
            '-->', f'<!-- /model-index:{name} -->')


def replace_table(text: str, name: str, table: str, path: str) -> str:
    """``text`` with the block between table ``name``'s markers set to
    ``table``."""
    begin, end = _markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ModelIndexError(
            f'{path}: the markers of the generated {name!r} table are '
            f'missing; put these two lines where the table goes:\n{begin}\n'
            f'{end}')
    # Blank lines around the table: Markdown starts it as its own block.
    return (text[:start + len(begin)] + '\n\n' + table + '\n\n' + text[stop:])


def update_tables(root: str, check: bool = False) -> List[str]:
    """Regenerate the README tables from the model index.

    Args:
        root (str): The repository root.
        check (bool): Only compare; write nothing. Defaults to False.

    Returns:
        list[str]: The files whose table differed (and, unless ``check``,
        were rewritten).
    """
    models = load_model_index(root)
    changed = []
    folders = {osp.dirname(m['_metafile']) for m in models}
    for rel, (name, render) in TABLES.items():
        folder = osp.dirname(rel)
        if folder not in ('', 'configs') and folder not in folders:
            continue  # a method folder's table exists with its metafile
        path = osp.join(root, rel)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        new = replace_table(text, name, render(models), path)
        if new != text:
            changed.append(rel)
            if not check:
                atomic_write(path, new)
    return changed
