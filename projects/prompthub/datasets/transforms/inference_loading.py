"""Load a user's (image, prompt mask) pair exactly as test data is loaded."""
import numpy as np
from PIL import Image

from projects.prompthub.registry import TRANSFORMS
from projects.prompthub.utils.image_io import read_image
from .loading import LoadVICLPair, check_mask_size
from .user_inputs import mask_foreground, rgb_array, warn_if_empty


@TRANSFORMS.register_module()
class LoadVICLInferencePair(LoadVICLPair):
    """:class:`LoadVICLPair` for user files and arrays (the inferencer's).

    What mmseg's ``InferencerLoader`` is to ``LoadImageFromFile``:
    :class:`PromptHubInferencer` puts it in place of the test pipeline's
    ``LoadVICLPair``, with the same settings (task, size, interpolation,
    label threshold, reference features), so a user's pair is decoded,
    resized and binarised exactly as ``tools/test.py`` treats a dataset
    pair. Images go through the datasets' strict reader.

    Record keys:

    - ``img_path`` (a file) or ``img`` (an HxW or HxWx3 array of 0..255
      integers, RGB);
    - the prompt mask, optional: ``seg_map_path`` or ``seg_map`` (array),
      read by :func:`mask_foreground` with the record's ``seg_fg_value``
      (as the datasets' records) or ``seg_threshold``. The label image is
      255 on the foreground and 0 elsewhere, so a label-id mask with its
      ``seg_fg_value`` gives the very label image of ``LoadVICLPair``.
      Without a mask (a query) the label image is black and no
      ``gt_seg_map`` is added;
    - ``input_name`` (e.g. ``'query'``, ``'prompt 2'``): how errors and
      warnings name the pair.

    With ``reference_features`` the feature label is the prompt's own mask
    (a Pascal-5i record draws its image's first-listed class there, spec
    2.1, which a user's pair does not have).

    Detection configs take the box drawn as a mask the same way (a mask
    equal to the box gives ``LoadVICLPair``'s label image). Colourisation
    pairs are not masks: that task is refused.

    Args:
        **kwargs: :class:`LoadVICLPair` arguments; ``cache_dir`` must stay
            None (the pair cache holds dataset pairs).
    """

    def __init__(self, **kwargs) -> None:
        if kwargs.get('cache_dir') is not None:
            raise ValueError(
                f'{self.__class__.__name__}: user inputs are read from '
                'their files; a pair cache (cache_dir) holds dataset pairs '
                'only. Drop cache_dir.')
        super().__init__(**kwargs)
        if self.task == 'colorization':
            raise ValueError(
                'Colourisation pairs (gray image, colour image) are not '
                'prompt masks; the inferencer predicts masks of '
                'segmentation and detection configs. Evaluate colourisation '
                'with tools/test.py.')

    def _load_segmentation(self, results: dict) -> tuple:
        name = results.get('input_name', 'input')
        if results.get('img_path') is not None:
            img = read_image(results['img_path'], f'{name} image',
                             self.backend_args)
        else:
            img = Image.fromarray(
                rgb_array(results['img'], f'{name} image'), 'RGB')
        mask = results.get('seg_map_path')
        if mask is None:
            mask = results.get('seg_map')
        if mask is None:
            label = np.zeros((img.height, img.width), np.uint8)
            return img, Image.fromarray(label)
        fg = mask_foreground(mask, f'{name} mask', results.get('seg_fg_value'),
                             results.get('seg_threshold'), self.backend_args)
        mask_name = f'{name} mask ' + (
            repr(mask) if isinstance(mask, str) else '(array)')
        check_mask_size(
            fg.shape, img, mask_name,
            repr(results['img_path'])
            if results.get('img_path') else '(array)')
        # transform() warns when the resize loses a non-empty foreground.
        self._read_fg_pixels = int(fg.sum())
        warn_if_empty(fg, mask_name)
        return img, Image.fromarray(np.where(fg, 255, 0).astype(np.uint8))

    # A detection prompt's box is given as a mask image.
    _load_detection = _load_segmentation

    def transform(self, results: dict) -> dict:
        """Load, resize and binarise one user pair.

        Args:
            results (dict): See the class docstring.

        Returns:
            dict: As :meth:`LoadVICLPair.transform`.
        """
        has_mask = results.get('seg_map_path') is not None or \
            results.get('seg_map') is not None
        self._read_fg_pixels = 0
        results = super().transform(results)
        if not has_mask:
            results.pop('gt_seg_map', None)
            return results
        fg = results['label_img'][..., 0] >= self.label_threshold
        if fg.any() or not self._read_fg_pixels:
            return results
        mask = results.get('seg_map_path')
        warn_if_empty(
            fg, f"{results.get('input_name', 'input')} mask " +
            (repr(mask) if mask is not None else '(array)'),
            f'after resizing to the {self.size[1]}x{self.size[0]} cell '
            f'({self.interpolation}, foreground where the label is >= '
            f'{self.label_threshold}; the object is too small or thin)')
        return results
