"""Test fixtures: tiny on-disk datasets in the real folder layouts."""
from .tiny_datasets import (TINY_VOC_SEG, make_tiny_coco, make_tiny_imagenet,
                            make_tiny_voc, make_tiny_voc_stock, voc_palette,
                            write_reference_json)

__all__ = [
    'TINY_VOC_SEG', 'make_tiny_coco', 'make_tiny_imagenet', 'make_tiny_voc',
    'make_tiny_voc_stock', 'voc_palette', 'write_reference_json'
]
