"""A start-up check that the masks hold the classes their records name.

Every record of Pascal-5i and COCO-20i is an (image, class) pair whose
mask contains that class, so a record whose mask has no pixel equal to
its ``seg_fg_value`` trains and scores an empty target. When that is true
of most records the data is wrong as a whole, typically 0/255 (binary)
masks given where label-id masks are expected, or COCO masks with the
other id numbering; the numbers would look plausible and mean nothing.
"""
import logging
from typing import List, Optional, Sequence

import numpy as np
from mmengine.logging import print_log

from projects.prompthub.utils.image_io import read_mask
from .transforms.loading import record_context

#: Masks read at start (evenly spaced over the records).
NUM_SAMPLED_MASKS = 16
#: Warn when more than this fraction of the sampled masks has no
#: foreground pixel (a correct split file gives 0).
MAX_EMPTY_FRACTION = 0.5


def sample_indices(num_records: int,
                   num_samples: int = NUM_SAMPLED_MASKS) -> List[int]:
    """Evenly spaced, deterministic record indices (at most
    ``num_samples``)."""
    if num_records <= 0:
        return []
    count = min(num_records, num_samples)
    return sorted(
        set(np.linspace(0, num_records - 1, count).round().astype(int)))


def _likely_cause(values: Sequence[int], fg_values: Sequence[int]) -> str:
    """A sentence on why the masks miss their foreground values."""
    values = sorted(set(int(v) for v in values))
    shown = values if len(values) <= 12 else values[:12] + ['...']
    if set(values) <= {0}:
        return 'The sampled masks are all 0 (background only).'
    if set(values) <= {0, 255} or set(values) <= {0, 1}:
        return (f'The sampled masks hold only {shown}: they look like '
                'binary foreground masks, while this dataset expects '
                'label-id masks whose pixels are class ids (a record\'s '
                f'foreground is the value seg_fg_value, here {fg_values}). '
                'Point data_prefix.seg_map_path at the label-id masks.')
    return (f'The sampled masks hold the values {shown} but the records '
            f'expect {fg_values}: are the masks, the split file or the '
            'fold those of another dataset?')


def warn_if_masks_lack_foreground(data_list: List[dict],
                                  what: str,
                                  hint: str = '',
                                  backend_args: Optional[dict] = None) -> int:
    """Read a few masks and warn loudly if most miss their foreground.

    ``NUM_SAMPLED_MASKS`` records, evenly spaced, have their mask read
    (strictly: a corrupt mask among them fails here, by name). When more
    than ``MAX_EMPTY_FRACTION`` of them hold no pixel equal to their
    ``seg_fg_value``, a warning names the dataset, the count, an example
    file and the likely cause.

    Args:
        data_list (list[dict]): Records with ``seg_map_path`` and
            ``seg_fg_value``.
        what (str): Dataset name for the message, e.g. ``'Pascal-5i'``.
        hint (str): Dataset-specific advice appended to the message.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        int: The number of sampled records without foreground.
    """
    picked = [data_list[i] for i in sample_indices(len(data_list))]
    empty, values, fg_values = [], set(), set()
    for info in picked:
        mask = read_mask(info['seg_map_path'], f'{what} mask', backend_args,
                         record_context(info))
        fg = info['seg_fg_value']
        if not (mask == fg).any():
            empty.append(info)
            values.update(np.unique(mask).tolist())
            fg_values.add(int(fg))
    if picked and len(empty) > MAX_EMPTY_FRACTION * len(picked):
        example = empty[0]
        context = record_context(example)
        print_log(
            f'{what}: {len(empty)} of {len(picked)} sampled masks have no '
            'pixel of their record\'s class, so most samples would train '
            'and score an empty target. '
            f"{_likely_cause(values, sorted(fg_values))} Example: mask "
            f"{example['seg_map_path']!r}"
            f"{f' ({context})' if context else ''} has no pixel equal to "
            f"{example['seg_fg_value']}. {hint}".rstrip(),
            logger='current',
            level=logging.WARNING)
    return len(empty)
