"""Decoding and validating one image file.

Every image reaches a method as an 8-bit RGB array (H x W x 3, uint8). The rules, decided once here:

- Decoding is done by Pillow with `ImageFile.LOAD_TRUNCATED_IMAGES` forced off (some libraries switch it
  on globally), so a truncated file fails instead of being silently filled with grey.
- Before decoding, the bytes are checked for completeness: a PNG must have intact chunks (every CRC is
  verified) up to and including IEND; a JPEG must end with its EOI marker (trailing bytes up to
  `_JPEG_TAIL` are tolerated). Pillow alone accepts a PNG that lost its IEND chunk.
- Greyscale ("L") and bilevel ("1") are replicated to three channels; palette images are expanded.
- An alpha channel (RGBA, LA, PA, or a tRNS colour key) that is fully opaque is dropped; any transparent
  pixel is refused: flattening onto a background would invent pixel values, so the user must decide.
- Each conversion, and JPEG (lossy) data, with or without a `.jpg` name, is said by `header_notes`, which the
  dataset records and the run and report repeat as warnings.
- 16-bit and float images are refused with a hint to convert to 8-bit, including 16-bit RGB PNGs that
  Pillow would otherwise silently reduce to 8 bits. Other modes (CMYK, YCbCr, LAB, ...) are refused too.
- EXIF orientation and ICC profiles are ignored: pixels are used as stored, as the datasets' own
  evaluation code reads them.

Side-by-side files (rainy and clean halves in one image, DID-MDN's release) are split at the middle
column by `split_halves`; their width must be even.
"""

import io
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from bench.common.errors import ImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
HALVES = ("left", "right")

_SUPPORTED_FORMATS = frozenset({"PNG", "JPEG", "BMP", "TIFF"})
_EIGHT_BIT_MODES = frozenset({"1", "L", "P", "RGB", "LA", "PA", "RGBA"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_EOI = b"\xff\xd9"
_JPEG_TAIL = 4096  # some encoders pad after EOI; a missing EOI within this tail means a cut file
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)


_CONVERSIONS = {
    "1": "bilevel, replicated to R, G and B",
    "L": "greyscale, replicated to R, G and B",
    "P": "palette, expanded to its RGB colours",
    "LA": "greyscale with alpha, the alpha dropped if every pixel is opaque (else refused), the grey replicated",
    "PA": "palette with alpha, expanded, the alpha dropped if every pixel is opaque (else refused)",
    "RGBA": "RGBA, the alpha dropped if every pixel is opaque (else refused)",
}


class Header(NamedTuple):
    width: int
    height: int
    mode: str  # Pillow's mode of the decoded image
    format: str  # PNG, JPEG, BMP or TIFF, from the bytes, whatever the file's name says


def header_notes(path: Path, header: Header) -> list[str]:
    """What a reader should know about how this file becomes the 8-bit RGB array scored: conversions, lossy data."""
    notes = []
    if header.mode in _CONVERSIONS:
        notes.append(f"converted to RGB: {_CONVERSIONS[header.mode]}")
    if header.format == "JPEG":
        named = "" if path.suffix.lower() in (".jpg", ".jpeg") else f" under a {path.suffix} name"
        notes.append(f"JPEG data{named} (lossy compression)")
    return notes


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def inspect_image(path: Path) -> Header:
    """Cheap up-front check: the file is complete and its header decodable.

    Transparency is only known after decoding, so it is checked by `read_image`.
    """
    data = _read_complete(path)
    with _open(path, data) as image:
        _check_bit_depth(path, image)
        return Header(image.width, image.height, image.mode, image.format)


def read_image(path: Path) -> np.ndarray:
    """Decode `path` fully into an 8-bit RGB array (H x W x 3)."""
    data = _read_complete(path)
    with _open(path, data) as image:
        _check_bit_depth(path, image)
        tolerant = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
        except _DECODE_ERRORS as exc:
            raise ImageError(f"{path}: cannot decode ({exc}); the file is truncated or corrupt") from exc
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = tolerant
        return _to_rgb(path, image)


def split_halves(path: Path, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a side-by-side image into its (left, right) halves at the middle column."""
    width = image.shape[1]
    if width % 2:
        raise ImageError(f"{path}: side-by-side image has odd width {width}; cannot split it into two halves")
    return image[:, : width // 2], image[:, width // 2 :]


def _read_complete(path: Path) -> bytes:
    """Read the file, refusing a truncated or corrupt PNG/JPEG before Pillow sees it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if data.startswith(_PNG_SIGNATURE):
        _check_png_chunks(path, data)
    elif data.startswith(b"\xff\xd8") and _JPEG_EOI not in data[-_JPEG_TAIL:]:
        raise ImageError(f"{path}: JPEG has no end-of-image marker; the file is truncated")
    return data


def _check_png_chunks(path: Path, data: bytes) -> None:
    """Walk the PNG chunks, verifying every CRC, and require a complete IEND chunk."""
    offset = len(_PNG_SIGNATURE)
    while True:
        if offset + 8 > len(data):
            raise ImageError(f"{path}: PNG ends before its IEND chunk; the file is truncated")
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        end = offset + 8 + length + 4
        if end > len(data):
            raise ImageError(f"{path}: PNG chunk {kind!r} is cut short; the file is truncated")
        body = data[offset + 4 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(body) != crc:
            raise ImageError(f"{path}: PNG chunk {kind!r} at byte {offset} fails its CRC; the file is corrupt")
        if kind == b"IEND":
            return
        offset = end


def _open(path: Path, data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path}: not a decodable image") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{path}: cannot read the image header ({exc})") from exc
    if image.format not in _SUPPORTED_FORMATS:
        image.close()
        raise ImageError(f"{path}: {image.format} images are not supported; use PNG, JPEG, BMP or TIFF")
    return image


def _check_bit_depth(path: Path, image: Image.Image) -> None:
    # Pillow opens a 16-bit RGB(A) PNG as mode "RGB"/"RGBA"; only the raw mode of its tiles tells.
    raw_modes = [tile[3] if isinstance(tile[3], str) else tile[3][0] for tile in image.tile]
    if image.mode.startswith(("I", "F")) or any(";16" in raw or ";32" in raw for raw in raw_modes):
        raise ImageError(
            f"{path}: 16-bit or float image (mode {image.mode}); convert it to 8-bit RGB, "
            "e.g. with `convert in.png -depth 8 out.png`, rescaling on purpose if the values need it"
        )
    if image.mode not in _EIGHT_BIT_MODES:
        raise ImageError(f"{path}: image mode {image.mode} is not supported; convert it to 8-bit RGB")


def _to_rgb(path: Path, image: Image.Image) -> np.ndarray:
    if "A" in image.mode or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"))
        if rgba[..., 3].min() < 255:
            transparent = int(np.count_nonzero(rgba[..., 3] < 255))
            raise ImageError(
                f"{path}: {transparent} pixels are (partly) transparent; flatten the image onto the "
                "background you intend and save it without alpha"
            )
        return np.ascontiguousarray(rgba[..., :3])
    return np.array(image.convert("RGB"))  # a writable copy: callers may hand it to torch.from_numpy
