"""Requirements: ranges for ``pip install .``, exact pins for the tested env.

``requirements/runtime.txt`` (``install_requires``) and ``det.txt`` (the
``[det]`` extra) take ranges; ``constraints.txt`` pins the versions the
suite ran with, and ``tools/setup_env.sh`` installs with it.
"""
import ast
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
REQ = REPO / 'requirements'
OPENCV = {'opencv-python', 'opencv-python-headless', 'opencv-contrib-python'}


def _requirements(name: str) -> list:
    lines = (line.strip() for line in (REQ / name).read_text().splitlines())
    return [
        Requirement(line) for line in lines
        if line and not line.startswith('#')
    ]


def _constraints() -> dict:
    pins = {}
    for req in _requirements('constraints.txt'):
        (spec, ) = req.specifier
        assert spec.operator == '==', f'constraints.txt: {req} is not a pin'
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_install_requires_are_ranges_pinned_by_constraints():
    """No exact pin in what ``pip install .`` asks for, and every
    requirement has a tested pin inside its range."""
    pins = _constraints()
    for name in ('runtime.txt', 'det.txt'):
        for req in _requirements(name):
            exact = [s for s in req.specifier if s.operator in ('==', '===')]
            assert not exact, (
                f'requirements/{name}: {req} is an exact pin; give a range '
                'there and the pin in requirements/constraints.txt')
            key = canonicalize_name(req.name)
            assert key in pins, (
                f'requirements/{name}: {req.name} has no tested version in '
                'requirements/constraints.txt')
            assert req.specifier.contains(pins[key]), (
                f'constraints.txt pins {req.name}=={pins[key]}, outside '
                f'requirements/{name}: {req}')
    setup_env = (REPO / 'tools' / 'setup_env.sh').read_text()
    assert '-c "$REQ/constraints.txt"' in setup_env


def test_one_opencv_distribution():
    """mmengine requires opencv-python; a second distribution
    (``-headless``) would write into the same ``cv2/`` folder."""
    names = set()
    for path in REQ.glob('*.txt'):
        names |= {canonicalize_name(r.name)
                  for r in _requirements(path.name)} & OPENCV
    assert names == {'opencv-python'}


def test_mmdet_is_an_extra_and_no_package_code_imports_it():
    """mmdet is not a hard requirement; that holds while no module of the
    package imports it."""
    runtime = {canonicalize_name(r.name) for r in _requirements('runtime.txt')}
    assert 'mmdet' not in runtime
    assert 'mmdet' in {
        canonicalize_name(r.name)
        for r in _requirements('det.txt')
    }
    importers = []
    for path in (REPO / 'projects').rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                modules = [node.module or '']
            else:
                continue
            if any(m.split('.')[0] == 'mmdet' for m in modules):
                importers.append(f'{path.relative_to(REPO)}:{node.lineno}')
    assert not importers, (
        f'{importers} import mmdet: move mmdet from requirements/det.txt '
        'to requirements/runtime.txt')
