"""Evidence files: type checked by content (not by name), size capped, stored with a SHA-256 checksum."""

from __future__ import annotations

import hashlib

import filetype

from ..auth.actor import Actor
from ..config import Settings
from ..errors import InvalidInput
from ..storage import EvidenceStore
from .models import Attachment, Case
from .workflow import fire

ALLOWED: dict[str, tuple[str, str]] = {
    "image/jpeg": ("image", "jpg"), "image/png": ("image", "png"), "image/webp": ("image", "webp"),
    "image/gif": ("image", "gif"), "image/heic": ("image", "heic"), "image/heif": ("image", "heif"),
    "video/mp4": ("video", "mp4"), "video/quicktime": ("video", "mov"), "video/webm": ("video", "webm"),
    "video/x-m4v": ("video", "m4v"),
}


def check(filename: str, data: bytes, settings: Settings) -> tuple[str, str, str]:
    """Returns (content type, kind, extension) from the bytes themselves, or refuses the file."""
    if not data:
        raise InvalidInput("file_empty", field="file", filename=filename)
    kind = filetype.guess(data[:8192])
    detected = kind.mime if kind else "unknown"
    if detected not in ALLOWED:
        raise InvalidInput("file_type", field="file", filename=filename, detected=detected,
                           allowed=sorted(ALLOWED))
    category, ext = ALLOWED[detected]
    limit = settings.max_image_bytes if category == "image" else settings.max_video_bytes
    if len(data) > limit:
        raise InvalidInput("file_too_large", field="file", filename=filename, size=len(data), limit=limit,
                           kind=category)
    return detected, category, ext


def attach(session, *, store: EvidenceStore, settings: Settings, actor: Actor, case: Case, filename: str,
           data: bytes) -> Attachment:
    """Stores the file (content-addressed, so a retry rewrites the same object) and records it on the case."""
    content_type, category, ext = check(filename, data, settings)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{case.merchant_id}/{case.number}/{digest}.{ext}"
    if not store.exists(key):
        store.put(key, data, content_type)
    attachment = Attachment(case_id=case.id, merchant_id=case.merchant_id, filename=filename[:300],
                            content_type=content_type, kind=category, size=len(data), sha256=digest,
                            storage_key=key, uploaded_by=actor.ref)
    session.add(attachment)
    session.flush()
    fire(session, case, "attach", actor, payload={"attachment_id": attachment.id, "filename": attachment.filename,
                                                  "kind": category, "sha256": digest, "size": len(data)})
    return attachment
