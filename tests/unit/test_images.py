"""Decoding rules of bench.data.images: what is accepted, converted or refused, and truncation detection."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from bench.common.errors import ImageError
from bench.data.images import inspect_image, read_image, split_halves

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)


def _save(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _raw_png(path: Path, pixels: np.ndarray, bit_depth: int, colour_type: int) -> Path:
    """A PNG written by hand, for kinds Pillow cannot write (16-bit RGB)."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1).astype(">u2" if bit_depth == 16 else "u1")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(data + _png_chunk(b"IEND", b""))
    return path


def test_rgb_png_round_trips_as_writable_uint8(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", Image.fromarray(RGB))
    image = read_image(path)
    assert image.dtype == np.uint8 and image.shape == (12, 16, 3)
    np.testing.assert_array_equal(image, RGB)
    assert image.flags.writeable
    assert inspect_image(path) == (16, 12, "RGB", "PNG")


@pytest.mark.parametrize("cut", [1, 4, 12, 200])
def test_truncated_png_is_refused_naming_the_file(tmp_path: Path, cut: int) -> None:
    whole = _save(tmp_path / "whole.png", Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    cut_file = tmp_path / "cut.png"
    cut_file.write_bytes(whole.read_bytes()[:-cut])
    for check in (read_image, inspect_image):
        with pytest.raises(ImageError, match=r"cut\.png.*truncated"):
            check(cut_file)


def test_png_with_a_flipped_byte_fails_its_crc(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", Image.fromarray(RGB))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside IDAT
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"x\.png.*CRC"):
        inspect_image(path)


@pytest.mark.parametrize("cut", [2, 100, 1000])
def test_truncated_jpeg_is_refused_naming_the_file(tmp_path: Path, cut: int) -> None:
    pixels = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = _save(tmp_path / "whole.jpg", Image.fromarray(pixels), quality=95)
    cut_file = tmp_path / "cut.jpg"
    cut_file.write_bytes(whole.read_bytes()[:-cut])
    for check in (read_image, inspect_image):
        with pytest.raises(ImageError, match=r"cut\.jpg"):
            check(cut_file)


def test_jpeg_with_padding_after_its_end_marker_is_accepted(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.jpg", Image.fromarray(RGB), quality=95)
    path.write_bytes(path.read_bytes() + b"\x00" * 64)
    assert read_image(path).shape == (12, 16, 3)


def test_truncated_jpeg_fails_even_if_another_library_tolerates_truncation(tmp_path: Path, monkeypatch) -> None:
    path = _save(tmp_path / "x.jpg", Image.fromarray(RGB), quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-2:])  # cut in the middle, end marker kept
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageError, match=r"x\.jpg"):
        read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_not_an_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png"):
        read_image(path)


def test_grayscale_is_replicated_to_three_channels(tmp_path: Path) -> None:
    grey = RGB[..., 0]
    image = read_image(_save(tmp_path / "g.png", Image.fromarray(grey, "L")))
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], grey)


def test_bilevel_becomes_black_and_white(tmp_path: Path) -> None:
    bits = Image.fromarray(RGB[..., 0] > 127).convert("1")
    image = read_image(_save(tmp_path / "b.png", bits))
    assert set(np.unique(image)) == {0, 255}
    np.testing.assert_array_equal(image[..., 0] == 255, RGB[..., 0] > 127)


def test_palette_is_expanded_to_its_colours(tmp_path: Path) -> None:
    palette_image = Image.fromarray(RGB).quantize(colors=8)
    expected = np.asarray(palette_image.convert("RGB"))
    image = read_image(_save(tmp_path / "p.png", palette_image))
    np.testing.assert_array_equal(image, expected)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) <= 8


def test_opaque_alpha_is_dropped(tmp_path: Path) -> None:
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(read_image(_save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA"))), RGB)
    la = np.dstack([RGB[..., 0], np.full(RGB.shape[:2], 255, np.uint8)])
    assert read_image(_save(tmp_path / "la.png", Image.fromarray(la, "LA"))).shape == (12, 16, 3)


def test_real_transparency_is_refused(tmp_path: Path) -> None:
    alpha = np.full(RGB.shape[:2], 255, np.uint8)
    alpha[3, 4] = 254
    path = _save(tmp_path / "t.png", Image.fromarray(np.dstack([RGB, alpha]), "RGBA"))
    with pytest.raises(ImageError, match=r"t\.png.*1 pixels.*transparent"):
        read_image(path)


def test_transparent_palette_entry_is_refused(tmp_path: Path) -> None:
    palette_image = Image.fromarray(RGB).quantize(colors=4)
    index = palette_image.getpixel((0, 0))
    path = _save(tmp_path / "pt.png", palette_image, transparency=index)
    with pytest.raises(ImageError, match="transparent"):
        read_image(path)


def test_16_bit_rgb_png_is_refused_although_pillow_reads_it_as_rgb(tmp_path: Path) -> None:
    path = _raw_png(tmp_path / "deep.png", RNG.integers(0, 65536, (4, 5, 3)), bit_depth=16, colour_type=2)
    assert Image.open(path).mode == "RGB"  # the trap: Pillow would silently drop the low byte
    for check in (read_image, inspect_image):
        with pytest.raises(ImageError, match=r"deep\.png.*16-bit.*8-bit"):
            check(path)


def test_16_bit_grayscale_and_float_are_refused(tmp_path: Path) -> None:
    deep_grey = _raw_png(tmp_path / "g16.png", RNG.integers(0, 65536, (4, 5)), bit_depth=16, colour_type=0)
    floats = _save(tmp_path / "f.tif", Image.fromarray(RNG.random((4, 5)).astype(np.float32)))
    for path in (deep_grey, floats):
        with pytest.raises(ImageError, match="convert it to 8-bit"):
            read_image(path)


def test_hand_written_8_bit_png_is_accepted(tmp_path: Path) -> None:
    """Guards the helper above: the 16-bit refusals are about depth, not about the hand-written file."""
    path = _raw_png(tmp_path / "ok.png", RGB, bit_depth=8, colour_type=2)
    np.testing.assert_array_equal(read_image(path), RGB)


def test_unsupported_format_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.gif", Image.fromarray(RGB).quantize(colors=8))
    with pytest.raises(ImageError, match="GIF images are not supported"):
        read_image(path)


def test_halves_split_at_the_middle_column(tmp_path: Path) -> None:
    left, right = split_halves(tmp_path / "pair.png", RGB)
    np.testing.assert_array_equal(left, RGB[:, :8])
    np.testing.assert_array_equal(right, RGB[:, 8:])


def test_odd_width_cannot_be_split(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"odd\.png.*odd width 15"):
        split_halves(tmp_path / "odd.png", RGB[:, :15])
