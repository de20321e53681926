"""``pip install .`` installs a plugin that coexists with other projects.

``projects`` must be a PEP 420 namespace package: a regular
``projects/__init__.py`` in site-packages hides every other ``projects/``
folder on ``sys.path`` (an mmseg checkout's ``projects.example_project``).
The install runs offline into a temporary ``--target`` from a copy of the
sources, so the repository (and its ``build/``) stays untouched.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = Path('projects', 'prompthub', 'weights', 'tiny_vicl_fold0.pth')
# What a build reads: setup.py, the files it opens and the package tree.
SOURCES = ('setup.py', 'MANIFEST.in', 'README.md', 'requirements', 'projects')


def _copy_sources(dst: Path) -> Path:
    """Copy what ``pip install .`` builds from, without caches."""
    dst.mkdir()
    for name in SOURCES:
        src = REPO / name
        if not src.exists():  # the sdist test names what is missing
            continue
        if src.is_dir():
            shutil.copytree(
                src,
                dst / name,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copy2(src, dst / name)
    return dst


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, (
        f'{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}')
    return proc


@pytest.fixture(scope='module')
def installed(tmp_path_factory) -> Path:
    """A non-editable ``pip install --target`` of this repository."""
    tmp = tmp_path_factory.mktemp('install')
    src = _copy_sources(tmp / 'src')
    target = tmp / 'site'
    _run([
        sys.executable, '-m', 'pip', 'install', '--no-deps',
        '--no-build-isolation', '--no-index', '--disable-pip-version-check',
        '-q', '--target',
        str(target),
        str(src)
    ])
    return target


@pytest.fixture
def other_project(tmp_path) -> Path:
    """A second ``projects/other`` folder, laid out as in an mmseg checkout
    (``projects/`` without ``__init__.py``)."""
    root = tmp_path / 'checkout'
    (root / 'projects' / 'other').mkdir(parents=True)
    (root / 'projects' / 'other' / '__init__.py').write_text('')
    return root


def _python(code: str, pythonpath: list, cwd: Path) -> dict:
    """Run ``code`` in a fresh interpreter with only ``pythonpath`` added
    (not the repository) and return the JSON it prints."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    proc = _run([sys.executable, '-c', code], cwd=cwd, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_projects_is_a_namespace_package_in_the_install(installed):
    """No ``projects/__init__.py`` is installed; the package and the demo
    weights (package data, byte for byte) are."""
    assert not (installed / 'projects' / '__init__.py').exists(), (
        'a regular projects package would hide other projects/ folders')
    assert (installed / 'projects' / 'prompthub' / '__init__.py').is_file()
    assert (installed / 'projects' / 'prompthub' / 'models' /
            '__init__.py').is_file()
    weights = installed / WEIGHTS
    assert weights.is_file(), f'{WEIGHTS} is not installed as package data'
    assert weights.read_bytes() == (REPO / WEIGHTS).read_bytes()


def test_installed_plugin_imports_next_to_another_projects_folder(
        installed, other_project, tmp_path):
    """As inside an mmseg checkout: its ``projects/`` comes first on
    ``sys.path``, the installed plugin after it; both import."""
    code = ('import json, projects, projects.other, projects.prompthub\n'
            'from projects.prompthub.registry import MODELS\n'
            'print(json.dumps(dict(other=projects.other.__file__,'
            ' prompthub=projects.prompthub.__file__,'
            ' init=getattr(projects, "__file__", None),'
            ' path=list(projects.__path__),'
            ' neck="LocalityFusionNeck" in MODELS.module_dict)))\n')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    out = _python(code, [other_project, installed], cwd)
    assert out['init'] is None, 'projects must be a namespace package'
    assert Path(out['other']).is_relative_to(other_project)
    assert Path(out['prompthub']).is_relative_to(installed)
    assert out['neck'], 'importing the plugin registers its components'
    assert [Path(p) for p in out['path'][:2]
            ] == [other_project / 'projects', installed / 'projects']


def test_other_projects_folder_found_after_the_install(installed,
                                                       other_project,
                                                       tmp_path):
    """The reverse order: the install first, the second folder after it
    (only located, so the test does not import the plugin twice)."""
    code = ('import importlib.util as u, json\n'
            'print(json.dumps({n: u.find_spec(n).origin for n in'
            ' ("projects.prompthub", "projects.other")}))\n')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    out = _python(code, [installed, other_project], cwd)
    assert Path(out['projects.prompthub']).is_relative_to(installed)
    assert Path(out['projects.other']).is_relative_to(other_project)


def test_sdist_carries_what_the_build_reads(tmp_path):
    """``setup.py`` reads requirements/*.txt and README.md; the sdist (what
    PyPI-style installs build from) must ship them and the weights."""
    src = _copy_sources(tmp_path / 'src')
    _run([
        sys.executable, 'setup.py', '-q', 'sdist', '--formats=gztar', '-d',
        str(tmp_path / 'dist')
    ],
         cwd=src)
    (archive, ) = (tmp_path / 'dist').glob('prompthub-*.tar.gz')
    with tarfile.open(archive) as tar:
        # Members are prompthub-<version>/<path>.
        names = {n.split('/', 1)[-1] for n in tar.getnames()}
    for path in os.listdir(REPO / 'requirements'):
        assert osp.join('requirements', path) in names
    assert 'README.md' in names
    assert str(WEIGHTS) in names
    assert osp.join('projects', '__init__.py') not in names


def test_installed_metadata_asks_for_ranges(installed):
    """What pip resolves against: no exact pin, mmdet only in ``[det]``,
    one OpenCV."""
    from packaging.requirements import Requirement
    (metadata, ) = installed.glob('prompthub-*.dist-info/METADATA')
    reqs = [
        Requirement(line.split(':', 1)[1])
        for line in metadata.read_text().splitlines()
        if line.startswith('Requires-Dist:')
    ]
    hard = {r.name for r in reqs if r.marker is None}
    assert not [r for r in reqs if '==' in str(r.specifier)]
    assert 'mmdet' not in hard and 'mmsegmentation' in hard
    assert {n for n in hard if n.startswith('opencv')} == {'opencv-python'}
