"""Packaging for the PromptHub OpenMMLab plugin (``projects.prompthub``).

``projects`` is a PEP 420 namespace package (no ``projects/__init__.py``):
mmseg, mmdet and other OpenMMLab checkouts keep their own ``projects/``
folders as namespace packages too, so an installed ``projects.prompthub``
and, say, mmseg's ``projects.example_project`` import side by side. A
regular ``projects`` package in site-packages would hide every other one.
"""
from pathlib import Path
from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def parse_requirements(name: str) -> list:
    """Read one requirements file, skipping comments and blank lines."""
    path = ROOT / 'requirements' / name
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith('#')]


# Only the real packages under projects/ (those with an __init__.py), named
# with their namespace; ``projects`` itself stays without an __init__.py.
PACKAGES = [
    f'projects.{name}' for name in find_packages(
        ROOT / 'projects', include=['prompthub', 'prompthub.*'])
]

setup(
    name='prompthub',
    version='0.1.0',
    description='Multi-prompt visual in-context learning for OpenMMLab',
    long_description=(ROOT / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=PACKAGES,
    # The committed demo backbone, which the demo config loads:
    # configs/prompthub/prompthub-n4_tiny-vicl_1xb16-adamw-200iter_lookalike-fold0.py
    package_data={'projects.prompthub': ['weights/*.pth']},
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require=dict(
        det=parse_requirements('det.txt'),
        tests=parse_requirements('tests.txt'),
        mim=parse_requirements('mminstall.txt')),
    license='Apache License 2.0',
    zip_safe=False)
