"""Paths of files shipped in the repository, from any working directory."""
import os.path as osp

#: The folder that holds ``projects/`` (the repository root, or
#: site-packages when the package is installed with its data).
PROJECT_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def resolve_project_path(path: str, what: str = 'file') -> str:
    """Find a file named relative to the repository, e.g. the demo
    config's ``projects/prompthub/weights/tiny_vicl_fold0.pth``.

    A relative path is tried from the working directory first (as every
    mmengine path is), then from :data:`PROJECT_ROOT`, so the shipped
    configs work from any working directory.

    Args:
        path (str): The path.
        what (str): What the file is, for the message.

    Returns:
        str: An existing path (absolute when found under the root).

    Raises:
        FileNotFoundError: Naming every place tried.
    """
    if osp.isfile(path):
        return path
    tried = [osp.abspath(path)]
    if not osp.isabs(path):
        shipped = osp.join(PROJECT_ROOT, path)
        if osp.isfile(shipped):
            return shipped
        tried.append(shipped)
    raise FileNotFoundError(f'{what} {path!r} not found (tried '
                            f"{' and '.join(map(repr, tried))}).")
