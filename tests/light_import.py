"""Import project modules without running the packages' ``__init__``.

Tests that start several real processes (concurrent writers) import only
the modules under test in each: importing ``projects.prompthub`` (mmseg,
mmdet, every component) costs seconds of CPU per process.
"""
import importlib
import os
import os.path as osp
import sys
import types

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def import_alone(name: str) -> types.ModuleType:
    """``importlib.import_module(name)`` with every package of
    ``projects/`` that is not imported yet registered as an empty package
    of its folder, so that only ``name`` and the modules it imports run.
    """
    for folder, _, files in os.walk(osp.join(REPO, 'projects')):
        package = osp.relpath(folder, REPO).replace(os.sep, '.')
        if '__init__.py' in files and package not in sys.modules:
            module = types.ModuleType(package)
            module.__path__ = [folder]
            sys.modules[package] = module
    return importlib.import_module(name)
