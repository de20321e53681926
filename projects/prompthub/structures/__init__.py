"""The visual-prompting canvas (geometry, normalisation, binarisation)
and the record contract of VICL datasets."""
from .array_like import ArrayLike, as_tensor, restore_kind
from .binarization import BINARIZE_MODES, binarize
from .canvas import build_canvas, pair_canvas, paste_prediction, target_canvas
from .canvas_geometry import (CANVAS_SIZE, CELL_POSITIONS, PATCH_SIZE,
                              br_token_ids, cell_size, cell_slices,
                              check_canvas, crop_cell, half_rows,
                              query_label_cell, visible_mask_ids)
from .normalization import (IMAGENET_MEAN, IMAGENET_STD, denormalize,
                            denormalize_to_uint8, normalize_canvas,
                            reference_round_trip, to_unit_float)
from .record_contract import (VICL_RECORD_KEYS, MissingRecordKeyError,
                              missing_key_error, record_value)

__all__ = [
    'ArrayLike', 'as_tensor', 'restore_kind', 'BINARIZE_MODES', 'binarize',
    'build_canvas', 'pair_canvas', 'paste_prediction', 'target_canvas',
    'CANVAS_SIZE', 'CELL_POSITIONS', 'PATCH_SIZE', 'br_token_ids', 'cell_size',
    'cell_slices', 'check_canvas', 'crop_cell', 'half_rows',
    'query_label_cell', 'visible_mask_ids', 'IMAGENET_MEAN', 'IMAGENET_STD',
    'denormalize', 'denormalize_to_uint8', 'normalize_canvas',
    'reference_round_trip', 'to_unit_float', 'VICL_RECORD_KEYS',
    'MissingRecordKeyError', 'missing_key_error', 'record_value'
]
