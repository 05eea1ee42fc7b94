"""Evidence files: type checked by content (not by name), size capped, stored with a SHA-256 checksum.

An upload is read from the request as it arrives (``receive``): the first bytes decide the type, and the size limit
of that kind is enforced while the bytes come in, so an oversized file is refused after at most ``limit`` bytes
instead of being read whole. The accepted bytes are hashed on the way and spooled to a temporary file (in memory up
to 1 MiB), then streamed into the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import Any, BinaryIO

import filetype

from ..actor import Actor
from ..config import Settings
from ..errors import InvalidInput
from ..storage import EvidenceStore
from . import visibility as visible
from .images import HEIF, Unreadable, View, clean_filename, header, make_view, needs_view
from .models import Attachment, Case
from .workflow import fire
from ..i18n import N_, SUPPORTED, every, said

ALLOWED: dict[str, tuple[str, str]] = {
    "image/jpeg": ("image", "jpg"), "image/png": ("image", "png"), "image/webp": ("image", "webp"),
    "image/gif": ("image", "gif"), "image/heic": ("image", "heic"), "image/heif": ("image", "heif"),
    "video/mp4": ("video", "mp4"), "video/quicktime": ("video", "mov"), "video/webm": ("video", "webm"),
    "video/x-m4v": ("video", "m4v"),
}
# Files sent with a message: photos and PDF documents (a receipt, an appraisal report), not videos.
DOCUMENTS: dict[str, tuple[str, str]] = {"application/pdf": ("document", "pdf")}
MESSAGE_FILES: dict[str, tuple[str, str]] = {
    **{k: v for k, v in ALLOWED.items() if v[0] == "image"}, **DOCUMENTS}
KIND_LABELS = {"image": N_("images"), "video": N_("videos"), "document": N_("documents")}
SNIFF_BYTES = 8192          # enough for every signature filetype knows
SPOOL_BYTES = 1024 * 1024   # uploads up to this size stay in memory
OTHER_FIELDS_BYTES = 64 * 1024  # form fields besides `file` (ignored) may not add more than this


class FileRefused(InvalidInput):
    """A refused upload, worded as an English msgid of the catalogs (`text`, with {placeholders} from `words`; a
    word given as {language: text} — the kind of file — is picked per reader)."""

    def __init__(self, key: str, text: str, /, *, words: dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(key, field="file", **params)
        self.text, self.words = text, words or {}

    def problem(self, locale: str) -> str:
        return said(locale, self.text, self.words)

    @property
    def texts(self) -> dict[str, str]:
        """The refusal in every language of the desk."""
        return {tag: self.problem(tag) for tag in SUPPORTED}

    def render(self, locale: str) -> dict[str, Any]:
        body = super().render(locale)
        body["message"] = self.problem(locale)
        return body


def detect(head: bytes) -> str:
    """The MIME type the bytes themselves show, or "unknown"."""
    kind = filetype.guess(head[:SNIFF_BYTES]) if head else None
    return kind.mime if kind else "unknown"


def classify(filename: str, head: bytes, settings: Settings,
             allowed: dict[str, tuple[str, str]] = ALLOWED) -> tuple[str, str, str, int]:
    """(content type, kind, extension, size limit) for a file starting with `head`, or refuses the file."""
    detected = detect(head)
    if detected not in allowed:
        raise InvalidInput("file_type", field="file", filename=filename, detected=detected, allowed=sorted(allowed))
    category, ext = allowed[detected]
    # Documents share the image limit: a scanned receipt is a picture in a PDF.
    limit = settings.max_video_bytes if category == "video" else settings.max_image_bytes
    return detected, category, ext, limit


def too_large(filename: str, category: str, limit: int, seen: int, *, complete: bool) -> FileRefused:
    """The size refusal: names the bytes seen and the limit (and its setting)."""
    words = {"filename": filename, "seen": seen, "limit": limit, "setting": f"RETURNFLOW_MAX_{category.upper()}_BYTES",
             "kind": every(KIND_LABELS[category])}
    text = N_("file: '{filename}' is {seen} bytes; the limit for {kind} is {limit} bytes ({setting})") if complete \
        else N_("file: '{filename}' is larger than the limit for {kind} of {limit} bytes ({setting}); refused after "
                "{seen} bytes")
    return FileRefused("file_too_large", text, words=words, filename=filename, size=seen, limit=limit, kind=category)


@dataclass
class Upload:
    """A checked file: its type from the content, its size and SHA-256, and the bytes (spooled) to store."""

    filename: str
    content_type: str
    kind: str
    ext: str
    size: int
    sha256: str
    file: BinaryIO = field(repr=False)
    view: View | None = field(default=None, repr=False)  # what people see, when it differs from the original

    def fingerprint(self) -> bytes:
        """What identifies the request for Idempotency-Key (not the raw multipart body: its boundary is random)."""
        return f"evidence\n{self.filename}\n{self.size}\n{self.sha256}".encode()

    def close(self) -> None:
        self.file.close()


class Receiver:
    """Takes a file's bytes chunk by chunk: sniffs the type from the first bytes, enforces that kind's limit as the
    bytes arrive, hashes and spools them. ``finish`` returns the checked Upload."""

    def __init__(self, filename: str, settings: Settings, allowed: dict[str, tuple[str, str]] = ALLOWED) -> None:
        self.filename = clean_filename(filename)
        self.settings = settings
        self.allowed = allowed
        self.head = bytearray()
        self.typed: tuple[str, str, str, int] | None = None
        self.size = 0
        self.digest = hashlib.sha256()
        self.spool: SpooledTemporaryFile = SpooledTemporaryFile(max_size=SPOOL_BYTES)

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        try:
            self.size += len(chunk)
            if self.typed is None:
                self.head += chunk[:SNIFF_BYTES]
                if len(self.head) >= SNIFF_BYTES:
                    self.typed = classify(self.filename, bytes(self.head), self.settings, self.allowed)
            if self.typed is not None and self.size > self.typed[3]:
                raise too_large(self.filename, self.typed[1], self.typed[3], self.size, complete=False)
            self.digest.update(chunk)
            self.spool.write(chunk)
        except BaseException:
            self.spool.close()
            raise

    def finish(self) -> Upload:
        try:
            if self.size == 0:
                raise InvalidInput("file_empty", field="file", filename=self.filename)
            if self.typed is None:
                self.typed = classify(self.filename, bytes(self.head), self.settings, self.allowed)
            content_type, category, ext, limit = self.typed
            if self.size > limit:
                raise too_large(self.filename, category, limit, self.size, complete=True)
            view = picture(self.filename, self.spool, content_type, self.settings) if category == "image" else None
        except BaseException:
            self.spool.close()
            raise
        self.spool.seek(0)
        return Upload(self.filename, content_type, category, ext, self.size, self.digest.hexdigest(), self.spool,
                      view)

    def abort(self) -> None:
        self.spool.close()


def picture(filename: str, file: BinaryIO, content_type: str, settings: Settings) -> View | None:
    """Refuses a photo whose header is unreadable or declares more pixels than allowed (read from the header, never
    decoded), and returns the copy people see when it must differ from the original."""
    try:
        image = header(file, content_type)
    except Unreadable:
        if content_type in HEIF:
            return None  # kept as evidence without a preview: browsers cannot show it, nothing here decodes it
        raise FileRefused("image_unreadable", N_("file: '{filename}' is not a readable {type} image"),
                          words={"filename": filename, "type": content_type}, filename=filename) from None
    width, height = image.size
    # PNG and WebP name their frame count in the header; a GIF's can only be counted by decoding, so a GIF's limit
    # is per frame (its byte limit bounds the rest).
    frames = getattr(image, "n_frames", 1) if content_type in ("image/png", "image/webp") else 1
    limit = settings.max_image_pixels
    if width * height > limit or width * height * frames > limit:
        many = f"{width}×{height}" + (f"×{frames}" if frames > 1 else "")
        raise FileRefused("image_too_many_pixels",
                          N_("file: '{filename}' has {many} pixels; the limit is {limit} pixels "
                             "(RETURNFLOW_MAX_IMAGE_PIXELS)"),
                          words={"filename": filename, "many": many, "limit": limit},
                          filename=filename, width=width, height=height, limit=limit)
    if not needs_view(image, file, content_type):
        return None
    try:
        return make_view(file, content_type)
    except Exception:
        if content_type in HEIF:
            return None  # a HEIF variant the decoder does not know: the original is kept, without a preview
        raise FileRefused("image_unreadable", N_("file: '{filename}' is not a readable {type} image"),
                          words={"filename": filename, "type": content_type}, filename=filename) from None


def from_bytes(filename: str, data: bytes, settings: Settings) -> Upload:
    """An Upload from bytes already in memory (imports, the CLI); the same checks as an HTTP upload."""
    receiver = Receiver(filename, settings)
    for start in range(0, len(data), SPOOL_BYTES):
        receiver.write(data[start:start + SPOOL_BYTES])
    return receiver.finish()


def check(filename: str, data: bytes, settings: Settings) -> tuple[str, str, str]:
    """Returns (content type, kind, extension) from the bytes themselves, or refuses the file."""
    upload = from_bytes(filename, data, settings)
    upload.close()
    return upload.content_type, upload.kind, upload.ext


def _form_error(text: str, **words: Any) -> FileRefused:
    return FileRefused("file_form", text, words=words)


async def receive(request, settings: Settings) -> Upload:
    """Reads the multipart form's `file` part from the request stream, checking it as it arrives.

    Other fields are ignored (up to OTHER_FIELDS_BYTES); a second file is refused. Nothing is stored here.
    """
    import python_multipart
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise _form_error(N_("file: send the file as multipart/form-data in a field named 'file' "
                             "(curl -F file=@photo.jpg)"))

    state: dict[str, Any] = {"receiver": None, "current": None, "other": 0, "files": 0,
                             "header": b"", "value": b"", "disposition": b"", "done": None}

    def on_part_begin() -> None:
        state["current"], state["disposition"] = None, b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        if state["header"].lower() == b"content-disposition":
            state["disposition"] = state["value"]
        state["header"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(state["disposition"])
        if options.get(b"name") == b"file":
            state["files"] += 1
            if state["files"] > 1:
                raise _form_error(N_("file: send one file per request"))
            name = options.get(b"filename", b"upload").decode("utf-8", "replace")
            state["receiver"] = state["current"] = Receiver(name, settings)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["current"] is not None:
            state["current"].write(data[start:end])
            return
        state["other"] += end - start
        if state["other"] > OTHER_FIELDS_BYTES:
            raise _form_error(N_("file: the form carries more than {limit} bytes besides the file"),
                              limit=OTHER_FIELDS_BYTES)

    def on_part_end() -> None:
        if state["current"] is not None:
            state["done"] = state["current"]
        state["current"] = None

    callbacks = {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
                 "on_header_field": on_header_field, "on_header_value": on_header_value,
                 "on_header_end": on_header_end, "on_headers_finished": on_headers_finished}
    parser = python_multipart.MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError:
        if state["receiver"] is not None:
            state["receiver"].abort()
        raise _form_error(N_("file: the multipart form is malformed or incomplete")) from None
    except BaseException:
        if state["receiver"] is not None:
            state["receiver"].abort()
        raise
    if state["done"] is None:
        if state["receiver"] is not None:
            state["receiver"].abort()
        raise InvalidInput("required", field="file")
    return state["done"].finish()


def storage_key(case: Case, upload: Upload) -> str:
    """Content-addressed within the case: the same bytes attached twice are one object."""
    return f"{case.merchant_id}/{case.number}/{upload.sha256}.{upload.ext}"


def attach(session, *, store: EvidenceStore, settings: Settings, actor: Actor, case: Case,
           filename: str | None = None, data: bytes | None = None, upload: Upload | None = None,
           visibility: str | None = None, source: str | None = None) -> Attachment:
    """Records the file on the case (the workflow decides whether the case takes evidence now), then stores it.
    A file staff add is internal unless `visibility` says "customer" (cases/visibility.py); `source` names where
    it came from when that is not the case page ("message": sent with a message, which is its own notice).

    The object is written last, inside the caller's transaction: a refusal by the workflow stores nothing, a store
    failure rolls the rows back. If the commit fails after the write, the object is unreferenced but harmless: its
    key is content-addressed, so the retry finds it in place (and overwrites it with the same bytes).
    """
    if upload is None:
        if data is None:
            raise InvalidInput("required", field="file")
        upload = from_bytes(filename or "upload", data, settings)
    audience = visible.of_file(actor, visible.choice(visibility))
    attachment = Attachment(visibility=audience, case_id=case.id, merchant_id=case.merchant_id,
                            filename=upload.filename[:300],
                            content_type=upload.content_type, kind=upload.kind, size=upload.size,
                            sha256=upload.sha256, storage_key=storage_key(case, upload), uploaded_by=actor.ref,
                            **view_columns(upload, f"{case.merchant_id}/{case.number}"))
    session.add(attachment)
    session.flush()
    fire(session, case, "attach", actor, payload={"attachment_id": attachment.id, "filename": attachment.filename,
                                                  "kind": upload.kind, "sha256": upload.sha256,
                                                  "size": upload.size, **({"source": source} if source else {})},
         visibility=audience)
    store_upload(store, upload, attachment.storage_key, attachment.view_key)
    return attachment


def view_columns(upload: Upload, folder: str) -> dict[str, Any]:
    """The view_* columns of the row that records `upload` (all None when people see the original)."""
    view = upload.view
    if view is None:
        return {}
    return {"view_key": f"{folder}/{upload.sha256}.view.{view.ext}", "view_type": view.content_type,
            "view_size": len(view.data), "view_sha256": view.sha256}


def store_upload(store: EvidenceStore, upload: Upload, key: str, view_key: str | None) -> None:
    """Writes the original and its view (content-addressed: an object already in place is left as it is)."""
    if not store.exists(key):
        upload.file.seek(0)
        store.put(key, upload.file, upload.content_type)
    if upload.view is not None and view_key and not store.exists(view_key):
        store.put(view_key, upload.view.data, upload.view.content_type)
