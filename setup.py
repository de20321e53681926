"""Packaging for the PromptHub OpenMMLab plugin (``projects.prompthub``)."""
from pathlib import Path

from setuptools import find_packages, setup


def parse_requirements(name: str) -> list:
    """Read one requirements file, skipping comments and blank lines."""
    path = Path(__file__).parent / 'requirements' / name
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith('#')]


setup(
    name='prompthub',
    version='0.1.0',
    description='Multi-prompt visual in-context learning for OpenMMLab',
    long_description=Path(__file__).with_name('README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['projects', 'projects.*']),
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require=dict(
        tests=parse_requirements('tests.txt'),
        mim=parse_requirements('mminstall.txt')),
    license='Apache License 2.0',
    zip_safe=False)
