"""Tiny on-disk datasets in the real layouts (generated once per session)."""
import pytest

from projects.prompthub.testing import (make_tiny_coco, make_tiny_imagenet,
                                        make_tiny_voc)


@pytest.fixture(scope='session')
def tiny_voc(tmp_path_factory):
    """``(root, info)`` of a tiny VOC 2012 + Pascal-5i layout."""
    root = tmp_path_factory.mktemp('pascal5i')
    return str(root), make_tiny_voc(str(root))


@pytest.fixture(scope='session')
def tiny_coco(tmp_path_factory):
    """``(root, info)`` of a tiny COCO-20i layout."""
    root = tmp_path_factory.mktemp('coco')
    return str(root), make_tiny_coco(str(root))


@pytest.fixture(scope='session')
def tiny_imagenet(tmp_path_factory):
    """``(root, info)`` of tiny ImageNet colourisation folders."""
    root = tmp_path_factory.mktemp('imagenet')
    return str(root), make_tiny_imagenet(str(root))
