"""Uploaded names and photos made safe to show: names without control or direction-changing characters, pixel counts
read from the header (decompression bombs refused before anything decodes them), and the copy people see.

The copy people see ("view") is made only when there is something to take out: location and camera data (EXIF,
XMP, IPTC, comments, PNG text chunks) of JPEG, PNG and WebP photos are dropped by re-encoding the pixels, and
HEIC/HEIF photos, which browsers do not show, get a JPEG preview (GIF has no EXIF and is shown as uploaded). A
photo without such data is shown as it was uploaded. The original always stays in the store untouched, under its
own SHA-256, as the evidence.
"""

from __future__ import annotations

import hashlib
import io
import struct
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from PIL import GifImagePlugin, Image, ImageOps, ImageSequence, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

NAME_CHARS = 200
# Unicode categories dropped from names: controls, format characters (bidirectional overrides and isolates,
# zero-width joiners), line and paragraph separators, surrogates, private use and unassigned code points.
DROPPED = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
HEIF = ("image/heic", "image/heif")
# Header facts that say nothing about the person or the place; any other entry means a view without it.
HARMLESS_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "adobe", "adobe_transform",
                 "progressive", "progression", "icc_profile", "gamma", "srgb", "chromaticity", "transparency",
                 "aspect", "interlace", "version", "background", "duration", "loop", "timestamp", "compression"}
KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "dpi")
PNG_PLAIN_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs",
                    b"sBIT", b"bKGD", b"hIST", b"acTL", b"fcTL", b"fdAT"}
VIEW_FORMATS = {"image/jpeg": ("JPEG", "image/jpeg", "jpg"), "image/png": ("PNG", "image/png", "png"),
                "image/webp": ("WEBP", "image/webp", "webp"), "image/gif": ("GIF", "image/gif", "gif"),
                "image/heic": ("JPEG", "image/jpeg", "jpg"), "image/heif": ("JPEG", "image/jpeg", "jpg")}


def clean_filename(name: str) -> str:
    """The name as it may be stored and shown: last path segment, no invisible or direction-changing characters,
    no leading dots, at most NAME_CHARS characters (the extension kept)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in DROPPED).strip().lstrip(".").strip()
    if len(name) > NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        name = stem[:NAME_CHARS - len(ext) - 1] + "." + ext if dot and 0 < len(ext) <= 16 else name[:NAME_CHARS]
    return name or "upload"


class Unreadable(ValueError):
    """The bytes carry an image signature but no header a decoder can read."""


@dataclass
class View:
    """The copy of a photo that people see."""

    data: bytes
    content_type: str
    ext: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _heif_file(fp: BinaryIO):
    from pillow_heif.as_plugin import HeifImageFile

    return HeifImageFile(fp)


OPENERS = {"image/jpeg": JpegImagePlugin.JpegImageFile, "image/png": PngImagePlugin.PngImageFile,
           "image/gif": GifImagePlugin.GifImageFile, "image/webp": WebPImagePlugin.WebPImageFile,
           "image/heic": _heif_file, "image/heif": _heif_file}


def header(file: BinaryIO, content_type: str) -> Image.Image:
    """The image with only its header read (nothing decoded yet): size and metadata are known."""
    file.seek(0)
    try:
        # The format's own reader, not Image.open: the type is already known from the content, and the header
        # is read without Pillow's own bomb check so that the refusal can name the real dimensions.
        return OPENERS[content_type](file)
    except Exception as exc:  # every reader has its own way of saying "not a valid header"
        raise Unreadable(str(exc)) from None


def _png_has_text(file: BinaryIO) -> bool:
    """Whether any chunk of the PNG (also after the pixel data, where Pillow's header read does not look) is one
    that can carry words or places (tEXt, zTXt, iTXt, eXIf, tIME, or anything unknown)."""
    file.seek(8)
    while len(head := file.read(8)) == 8:
        length, kind = struct.unpack(">I4s", head)
        if kind not in PNG_PLAIN_CHUNKS:
            return True
        if kind == b"IEND":
            return False
        file.seek(length + 4, io.SEEK_CUR)
    return False


def needs_view(image: Image.Image, file: BinaryIO, content_type: str) -> bool:
    if content_type in HEIF:
        return True
    if content_type == "image/gif":
        return False  # no EXIF in GIF; re-encoding would decode every frame, which a small file can multiply
    if any(value for key, value in image.info.items() if key not in HARMLESS_INFO):
        return True
    return content_type == "image/png" and _png_has_text(file)


def make_view(file: BinaryIO, content_type: str) -> View:
    """The pixels re-encoded without metadata, turned upright by the EXIF orientation they leave behind."""
    fmt, view_type, ext = VIEW_FORMATS[content_type]
    image = header(file, content_type)
    kept = {k: image.info[k] for k in KEPT_INFO if k in image.info and image.info[k] is not None}
    out = io.BytesIO()
    # The pixel count was checked against the setting before this is called (evidence.picture).
    if getattr(image, "n_frames", 1) > 1 and fmt in ("WEBP", "PNG"):
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        for frame in frames:
            frame.info = {k: v for k, v in frame.info.items() if k in KEPT_INFO}
        frames[0].save(out, fmt, save_all=True, append_images=frames[1:], **kept)
    else:
        image.load()
        upright = ImageOps.exif_transpose(image) or image
        if fmt == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.info = {}  # nothing from the original's header travels along
        extra = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
        upright.save(out, fmt, **extra, **{k: v for k, v in kept.items() if k in ("icc_profile", "dpi")
                                           or fmt != "JPEG"})
    return View(out.getvalue(), view_type, ext)
