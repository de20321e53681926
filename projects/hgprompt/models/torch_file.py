"""Safe reading of the ``.pth`` files HGPrompt takes from users."""
from typing import Any, Sequence

import torch


def load_torch_file(path: str,
                    expected: str,
                    what: str = '',
                    allowed_globals: Sequence = ()) -> Any:
    """``torch.load`` a local file on CPU with ``weights_only=True``.

    Prompts and ViT weights come from other code (VPT, timm, the user);
    nothing in them may run code, and a file that cannot be read must say
    which file it is and what it should have been.

    Args:
        path (str): An existing local file.
        expected (str): The accepted formats, quoted in the message.
        what (str): What the file was read as, e.g. ``'a prompt file'``;
            empty leaves it out of the message.
        allowed_globals (Sequence): Extra entries for
            ``torch.serialization.safe_globals``, added only while loading
            (the project's own allow-list stays as it is).

    Returns:
        Any: The unpickled object (tensors, containers, allowed globals).

    Raises:
        ValueError: ``torch.load`` failed; names the file, the error and
            ``expected``.
    """
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        read_as = f' as {what}' if what else ''
        raise ValueError(f'{path} could not be read{read_as} '
                         f'({type(err).__name__}: {err}); expected '
                         f'{expected}.') from err
