"""ImageNet colourisation pairs: grayscale input, colour target."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset

from projects.prompthub.registry import DATASETS
from .split_files import check_dir, check_files_exist, read_split_lines

IMAGENET_COLOR_HINT = (
    "ImageNet colourisation needs either an ImageNet-style folder of colour "
    "images (mode='folder', e.g. <data_root>/train/<wnid>/*.JPEG or "
    "<data_root>/val/*.JPEG) or the reference's prepared folders "
    "(mode='prepared', <data_root>/{train,test}_data with the grayscale "
    "inputs and <data_root>/{train,test}_label with the colour targets, "
    "same file names).")

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


@DATASETS.register_module()
class ImageNetColorizationDataset(BaseDataset):
    """Grayscale -> colour pairs from ImageNet images.

    For colourisation a pair's *image* is the grayscale picture and its
    *label image* is the colour picture. Two sources are supported:

    - ``mode='folder'``: an ImageNet-style folder of colour images
      (recursive, so class sub-folders and flat folders both work). The
      input is derived on the fly by ``LoadVICLPair(task='colorization')``:
      the colour image is converted to ITU-R 601-2 luma with PIL's
      ``convert('L')`` (L = R*299/1000 + G*587/1000 + B*114/1000) at full
      resolution and replicated to 3 channels, then both are resized.
      Records hold ``img_path`` = ``label_path`` = the colour file and
      ``derive_gray=True``.
    - ``mode='prepared'``: the reference's offline folders,
      ``{split}_data`` (grayscale inputs) and ``{split}_label`` (colour
      targets) with identical file names. Records hold ``img_path`` (the
      gray file), ``label_path`` (the colour file) and
      ``derive_gray=False``.

    ``sample_name`` is the file stem (the retrieval key). Files are listed
    in sorted path order (the reference used ``os.listdir`` order and the
    first 50,000 files; use ``indices=50000`` for a fixed-size subset).

    Args:
        mode (str): ``'folder'`` or ``'prepared'``. Defaults to
            ``'folder'``.
        split (str): Split name used for the default folders: ``{split}``
            in folder mode, ``{split}_data``/``{split}_label`` in prepared
            mode (the reference uses ``train`` and ``test``). Defaults to
            ``'train'``.
        ann_file (str): Optional list of file paths relative to the input
            folder, one per line; when empty the folder is scanned.
            Defaults to ''.
        data_prefix (dict, optional): ``img_path`` (and, in prepared mode,
            ``label_path``) folders; defaults from ``mode`` and ``split``.
        extensions (Sequence[str]): File suffixes (case-insensitive) to
            list. Defaults to ``('.jpg', '.jpeg', '.png', '.bmp',
            '.webp')``.
        check_files (bool): In prepared mode, check that every input has
            its colour target. Defaults to True.
        **kwargs: Other arguments of :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(task='colorization')

    def __init__(self,
                 mode: str = 'folder',
                 split: str = 'train',
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 check_files: bool = True,
                 **kwargs) -> None:
        if mode not in ('folder', 'prepared'):
            raise ValueError("mode must be 'folder' or 'prepared', got "
                             f'{mode!r}')
        self.mode = mode
        self.split = split
        self.extensions = tuple(e.lower() for e in extensions)
        self.check_files = check_files
        if data_prefix is None:
            if mode == 'folder':
                data_prefix = dict(img_path=split)
            else:
                data_prefix = dict(
                    img_path=f'{split}_data', label_path=f'{split}_label')
        if mode == 'prepared' and 'label_path' not in data_prefix:
            raise ValueError("mode='prepared' needs data_prefix['label_path']"
                             ' (the colour targets).')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _list_files(self, img_dir: str) -> List[Tuple[Optional[int], str]]:
        """Relative paths of the input images with their line in
        ``ann_file`` (None for a scanned folder, sorted)."""
        if self.ann_file:
            return read_split_lines(self.ann_file,
                                    'ImageNet colourisation file list',
                                    IMAGENET_COLOR_HINT)
        files = []
        for dirpath, _, names in os.walk(img_dir, followlinks=True):
            for name in names:
                if osp.splitext(name)[1].lower() in self.extensions:
                    files.append(osp.relpath(osp.join(dirpath, name), img_dir))
        if not files:
            raise FileNotFoundError(
                f'No image ({"/".join(self.extensions)}) found under '
                f'{img_dir!r}. {IMAGENET_COLOR_HINT}')
        return [(None, rel) for rel in sorted(files)]

    def load_data_list(self) -> List[dict]:
        """List the image pairs.

        Returns:
            list[dict]: One record per input image.
        """
        if self.data_root is not None:
            check_dir(self.data_root, 'ImageNet colourisation data root',
                      IMAGENET_COLOR_HINT)
        img_dir = self.data_prefix['img_path']
        what = ('ImageNet image folder'
                if self.mode == 'folder' else 'grayscale input folder')
        check_dir(img_dir, what, IMAGENET_COLOR_HINT)
        data_list = []
        for lineno, rel in self._list_files(img_dir):
            img_path = osp.join(img_dir, rel)
            if self.mode == 'folder':
                label_path = img_path
            else:
                label_path = osp.join(self.data_prefix['label_path'], rel)
            data_list.append(
                dict(
                    img_path=img_path,
                    label_path=label_path,
                    sample_name=osp.splitext(osp.basename(rel))[0],
                    derive_gray=self.mode == 'folder'))
            if lineno is not None:
                data_list[-1].update(
                    split_file=self.ann_file, split_line=lineno)
        if self.check_files:
            if self.mode == 'prepared':
                check_dir(self.data_prefix['label_path'],
                          'colour target folder', IMAGENET_COLOR_HINT)
            if self.ann_file or self.mode == 'prepared':
                check_files_exist((d['img_path'] for d in data_list),
                                  'ImageNet colourisation input',
                                  IMAGENET_COLOR_HINT)
                check_files_exist((d['label_path'] for d in data_list),
                                  'ImageNet colourisation colour target',
                                  IMAGENET_COLOR_HINT)
        return data_list
