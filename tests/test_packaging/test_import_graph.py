"""The import graph of ``projects/`` has no cycle, between modules or
between subpackages (``projects.prompthub.models`` <-> ``...utils``), and
PromptHub never imports HGPrompt. Function-local imports count too: a
cycle hidden inside a function is still a cycle of the design."""
import ast
import functools
import os
import os.path as osp
from typing import Dict, List, Set

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _modules() -> Dict[str, str]:
    mods = {}
    for folder, _, files in os.walk(osp.join(REPO, 'projects')):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                mod = osp.relpath(path, REPO)[:-3].replace(os.sep, '.')
                mods[mod[:-len('.__init__')] if mod.endswith('.__init__'
                                                             ) else mod] = path
    return mods


def _graph(mods: Dict[str, str]) -> Dict[str, Set[str]]:
    """Module -> modules of ``projects`` it imports (a package's own
    ``__init__`` re-exporting its children is not an edge back)."""
    graph = {}
    for mod, path in mods.items():
        is_pkg = path.endswith('__init__.py')
        edges = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    parts = mod.split('.') if is_pkg else mod.split('.')[:-1]
                    parts = parts[:len(parts) - node.level + 1]
                    base = '.'.join(parts + ([base] if base else []))
                targets = [base] + [f'{base}.{a.name}' for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition('.')[0]
                if target and target != mod and not mod.startswith(target +
                                                                   '.'):
                    edges.add(target)
        graph[mod] = edges
    return graph


@functools.lru_cache(maxsize=None)
def _project_graph() -> Dict[str, Set[str]]:
    """The graph of this repository, parsed once for all tests."""
    return _graph(_modules())


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            comp = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                comp.append(top)
                if top == node:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for node in list(graph):
        if node not in index:
            visit(node)
    return out


def _collapse(graph: Dict[str, Set[str]], depth: int) -> dict:
    """The graph between packages named by their first ``depth`` parts."""

    def name(mod):
        return '.'.join(mod.split('.')[:depth])

    out: Dict[str, Set[str]] = {}
    for mod, targets in graph.items():
        for target in targets:
            if name(mod) != name(target):
                out.setdefault(name(mod), set()).add(name(target))
    return out


def test_no_import_cycles():
    graph = _project_graph()
    assert 'projects.prompthub.models.segmentors.vicl_inpainter' in graph
    assert _cycles(graph) == []
    assert _cycles(_collapse(graph, 3)) == []  # projects.prompthub.<sub>
    assert _cycles(_collapse(graph, 2)) == []  # projects.<project>


def test_cycle_finder_finds_a_cycle():
    """The checker itself: a two-package loop is reported."""
    graph = {'p.a.x': {'p.b.y'}, 'p.b.y': {'p.a.z'}, 'p.a.z': set()}
    assert _cycles(graph) == []
    assert _cycles(_collapse(graph, 2)) == [['p.a', 'p.b']]


def test_prompthub_never_imports_hgprompt():
    graph = _project_graph()
    bad = sorted(f'{m} -> {t}' for m, ts in graph.items() for t in ts
                 if m.startswith('projects.prompthub')
                 and t.startswith('projects.hgprompt'))
    assert bad == []


def test_hgprompt_uses_only_prompthubs_shared_runtime():
    """HGPrompt's tie to PromptHub is the runtime (docs/design.md, import
    rule 7), never PromptHub's models or data pipeline."""
    allowed = ('projects.prompthub.engine', 'projects.prompthub.utils',
               'projects.prompthub.compat',
               'projects.prompthub.evaluation.prediction_io',
               'projects.prompthub.datasets.data_check')
    graph = _project_graph()
    bad = sorted(
        f'{m} -> {t}' for m, ts in graph.items() for t in ts
        if m.startswith('projects.hgprompt')
        and t.startswith('projects.prompthub') and not t.startswith(allowed))
    assert bad == []
