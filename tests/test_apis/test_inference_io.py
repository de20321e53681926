"""The inferencer's readers and writer: exact, or an error naming the file."""
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from PIL import ImageFile

from projects.prompthub.apis import inference_io
from projects.prompthub.apis.inference_io import (mask_foreground,
                                                  output_stems, read_rgb,
                                                  write_image)


def test_mask_rule_table():
    obj = np.zeros((4, 5), np.uint8)
    obj[1:3, 1:4] = 1
    for value in (1, 255, 15, 300):
        np.testing.assert_array_equal(
            mask_foreground(obj.astype(np.uint16) * value), obj > 0)
    np.testing.assert_array_equal(mask_foreground(obj > 0), obj > 0)
    np.testing.assert_array_equal(mask_foreground(obj * 1.0), obj > 0)
    void = obj * 7
    void[0] = 255  # label id 7 with mmseg's ignore band
    np.testing.assert_array_equal(mask_foreground(void), obj > 0)
    # A grey mask stored as RGB(A) and a one-colour mask read as grey.
    rgba = np.dstack([obj * 255] * 3 + [np.full_like(obj, 255)])
    np.testing.assert_array_equal(mask_foreground(rgba), obj > 0)
    red = np.dstack([obj * 200, obj * 0, obj * 10])
    np.testing.assert_array_equal(mask_foreground(red), obj > 0)
    assert not mask_foreground(np.zeros((3, 3))).any()


@pytest.mark.parametrize('mask, match', [
    (np.array([[0, 3], [7, 0]]), r'2 foreground values \[3, 7\]'),
    (np.array([[0., .4], [.9, 1.]]), r'3 foreground values'),
    (np.array([[0., np.nan]]), 'NaN'),
    (np.array([[[0, 0, 0], [9, 0, 0]], [[0, 5, 0], [0, 0, 0]]
               ]), 'colour mask with 2 non-black colours'),
    (np.zeros((2, 2, 2, 2)), 'HxW or HxWxC'),
])
def test_ambiguous_masks_raise(mask, match):
    with pytest.raises(ValueError, match=f'my mask \\(array\\).*{match}'):
        mask_foreground(mask, 'my mask')


def test_rgb_arrays_are_checked():
    gray = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert read_rgb(gray).shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r'query image array .* \[0, 1\]'):
        read_rgb(np.full((2, 2, 3), 0.5), 'query image')
    with pytest.raises(ValueError, match='HxWx3'):
        read_rgb(np.zeros((2, 2, 4), np.uint8))


def test_truncation_is_caught_even_if_allowed_globally(tmp_path):
    """Some libraries set PIL's LOAD_TRUNCATED_IMAGES; the check forces
    it off and restores it."""
    ok, buf = cv2.imencode('.jpg', np.full((40, 40, 3), 90, np.uint8))
    path = str(tmp_path / 'cut.jpg')
    with open(path, 'wb') as f:
        f.write(buf.tobytes()[:300])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(ValueError, match='cut.jpg.* truncated'):
            read_rgb(path)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_output_stems_unique_and_deterministic():
    queries = [
        'a/img.png', 'b/img.png', 'img_1.png', 'c/IMG.jpg',
        np.zeros(1), 'query_4.png', 'x/solo.png'
    ]
    names = output_stems(queries)
    assert names == [
        'img_0', 'img_1_1', 'img_1', 'IMG_3', 'query_4_4', 'query_4_5', 'solo'
    ]
    assert len({n.lower() for n in names}) == len(names)
    assert output_stems(queries) == names


def test_write_image_raises_instead_of_returning_false(tmp_path):
    img = np.zeros((3, 4), np.uint8)
    with pytest.raises(ValueError, match=r"x.foo'.*extension '.foo'"):
        write_image(str(tmp_path / 'x.foo'), img)
    with pytest.raises(OSError, match='cannot write .*nowhere'):
        write_image(str(tmp_path / 'nowhere' / 'x.png'), img)
    path = write_image(str(tmp_path / 'x.png'), img)
    assert cv2.imread(path, cv2.IMREAD_GRAYSCALE).shape == (3, 4)
    assert os.listdir(tmp_path) == ['x.png']


def test_interrupted_write_keeps_the_old_file(tmp_path):
    """The process dies after writing the new bytes but before they
    replace the output: the previous output is intact, never a half
    file."""
    path = str(tmp_path / 'out_mask.png')
    old = np.full((5, 5), 255, np.uint8)
    write_image(path, old)
    script = textwrap.dedent(f'''
        import importlib.util, os
        import numpy as np
        spec = importlib.util.spec_from_file_location(
            'iio', {inference_io.__file__!r})
        iio = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(iio)
        iio.os.replace = lambda *a: os._exit(3)
        iio.write_image({path!r}, np.zeros((50, 50), np.uint8))
    ''')
    proc = subprocess.run([sys.executable, '-c', script])
    assert proc.returncode == 3
    np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_GRAYSCALE), old)
