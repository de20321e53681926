"""A Runner whose ``load_from`` and ``resume`` load checkpoints exactly."""
import copy
from typing import Any

from mmengine.config import Config
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from projects.prompthub.models.utils.strict_load import (
    ALLOW_KEY, DEFAULT_REVISE_KEYS, load_state_dict_exactly, parse_load_allow,
    read_checkpoint)
from projects.prompthub.registry import RUNNERS
from projects.prompthub.utils.config_references import \
    resolve_config_references


@RUNNERS.register_module()
class StrictLoadRunner(Runner):
    """:class:`mmengine.runner.Runner` with exact checkpoint loading.

    MMEngine loads ``load_from`` (``tools/test.py``'s checkpoint) with
    ``strict=False``, so a wrong file only logs its mismatches and the run
    goes on with random weights. Selected by ``runner_type`` in the base
    runtime configs; ``tools/train.py`` and ``tools/test.py`` build it
    with ``RUNNERS.build(cfg)``. Every model key must then be in the file
    with its shape and every file key must be used, except the prefixes
    the config's ``load_from_allow=dict(missing=[...], unexpected=[...])``
    names (see :mod:`projects.prompthub.models.utils.strict_load`). Files
    that cannot be read raise an error naming the file. ``resume`` loads
    through the same method (a resumed checkpoint holds the whole model).

    It also resolves the config's ``${name}`` references before building
    anything, so that a config run by another tool (e.g. mmseg's
    ``tools/train.py``) gets the same datasets as with ours.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'StrictLoadRunner':
        """Build the runner from ``cfg`` with its references resolved.

        Args:
            cfg (Config): The config; not modified.
        """
        cfg = copy.deepcopy(cfg)
        if not isinstance(cfg, Config):
            cfg = Config(cfg)
        return super().from_cfg(resolve_config_references(cfg))

    def load_checkpoint(self,
                        filename: str,
                        map_location: Any = 'cpu',
                        strict: bool = True,
                        revise_keys: list = list(DEFAULT_REVISE_KEYS)):
        """Load ``filename`` into the model, exactly.

        Args:
            filename (str): Local path or URL.
            map_location (str | callable): As :func:`torch.load`.
            strict (bool): Ignored: loading is always exact apart from the
                config's ``load_from_allow``. Kept for the signature.
            revise_keys (list): ``(pattern, replacement)`` applied to the
                file's keys. Defaults to stripping ``module.``.

        Returns:
            dict: The checkpoint.
        """
        allow_missing, allow_unexpected = parse_load_allow(
            self.cfg.get(ALLOW_KEY))
        checkpoint = read_checkpoint(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        load_state_dict_exactly(model, checkpoint, filename, allow_missing,
                                allow_unexpected, revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
