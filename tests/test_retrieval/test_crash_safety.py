"""A process killed while writing a feature store or an index leaves the
previous file usable, and never a half file that is later loaded.

One subprocess imports the package once and forks a child per case; the
child's writes to the target file are cut after ``limit`` bytes and it
dies with ``os._exit`` (no cleanup runs, as with a kill).
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np

from projects.prompthub.retrieval import FeatureExtractor, RetrievalIndex
from ._helpers import (TINY_KWARGS, TINY_MODEL, TINY_PREPROCESS, make_images,
                       save_tiny_model)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

CRASH_SCRIPT = r'''
import builtins, json, os, re, sys
import numpy as np
from projects.prompthub.retrieval import FeatureExtractor, RetrievalIndex


class Dying:
    """A file whose writes stop after ``limit`` bytes, killing the
    process."""

    def __init__(self, f, limit):
        self._f, self._n, self._limit = f, 0, limit

    def write(self, data):
        if self._n + len(data) >= self._limit:
            self._f.write(data[:self._limit - self._n])
            self._f.flush()
            os._exit(3)
        self._n += len(data)
        return self._f.write(data)

    def __getattr__(self, key):
        return getattr(self._f, key)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def cut_writes(pattern, limit):
    pattern = re.compile(pattern)

    def wrap(f, name, mode):
        hit = pattern.match(os.path.basename(name)) and set(mode) & set('wax+')
        return Dying(f, limit) if hit else f

    _open, _fdopen = builtins.open, os.fdopen
    builtins.open = lambda file, mode='r', *a, **k: wrap(
        _open(file, mode, *a, **k), str(file), mode)
    os.fdopen = lambda fd, mode='r', *a, **k: wrap(
        _fdopen(fd, mode, *a, **k), os.readlink(f'/proc/self/fd/{fd}'), mode)


codes = []
for case in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        cut_writes(case['pattern'], case['limit'])
        if 'extractor' in case:
            FeatureExtractor(**case['extractor']).extract(
                case['paths'], case['out'], progress=False)
        else:
            RetrievalIndex(['q'], ['a', 'b'], np.array([[1, 0]])).save(
                case['out'])
        os._exit(0)  # not cut: the case is wrong
    codes.append(os.WEXITSTATUS(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
'''


def test_killed_writes_leave_usable_files(tmp_path):
    weights = str(tmp_path / 'tiny.pth')
    save_tiny_model(weights)
    kwargs = dict(
        model=TINY_MODEL,
        weights=weights,
        model_kwargs=TINY_KWARGS,
        preprocess=TINY_PREPROCESS)
    extractor = FeatureExtractor(**kwargs)
    cases, stores = [], {}
    # Old layout: f.npy.part / f.npy.json; new: hidden temporary names.
    for what, pattern, limit in (
        ('rows', r'^(f\.npy\.part|\.f\.npy\.(?!json)[\w.]+\.tmp)$', 1000),
        ('sidecar', r'^(f\.npy\.json|\.f\.npy\.json\.[\w.]+\.tmp)$', 20),
    ):
        folder = tmp_path / what
        folder.mkdir()
        paths = make_images(folder, ['a', 'b', 'c'])
        out = str(folder / 'f.npy')
        if what == 'rows':
            # A store exists and b is edited: the killed run rewrites it.
            extractor.extract(paths, out, progress=False)
            make_images(folder, ['b_new'], seed=5)
            os.replace(str(folder / 'b_new.jpg'), paths[1])
        # ('sidecar': the killed run writes the first store.)
        stores[what] = (paths, out)
        cases.append(
            dict(
                pattern=pattern,
                limit=limit,
                extractor=kwargs,
                paths=paths,
                out=out))
    index_path = str(tmp_path / 'i.npz')
    RetrievalIndex(['q'], ['a', 'b'], np.array([[0, 1]])).save(index_path)
    cases.append(dict(pattern=r'^\.i\.npz.+', limit=200, out=index_path))

    proc = subprocess.run(
        [sys.executable, '-c', CRASH_SCRIPT,
         json.dumps(cases)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == [3, 3, 3]

    # Cut in the rows: the previous store survived, only b is computed.
    paths, out = stores['rows']
    store = extractor.extract(paths, out, progress=False)
    stats = extractor.last_stats
    assert (stats['images'], stats['changed'], stats['reused']) == (1, 1, 2)
    np.testing.assert_array_equal(store[:],
                                  extractor.extract(paths, progress=False))
    # Cut in the sidecar: no half description is read; computed again.
    paths, out = stores['sidecar']
    store = extractor.extract(paths, out, progress=False)
    np.testing.assert_array_equal(store[:],
                                  extractor.extract(paths, progress=False))
    # Cut in the index: the previous index is intact.
    assert RetrievalIndex.load(index_path).neighbours('q') == ['a', 'b']
    assert any(n.startswith('.i.npz') for n in os.listdir(tmp_path))
