"""Serving stored evidence: the copy people see by default, the untouched original only to staff who ask for it.

A row (Attachment or ReceiptPhoto) has its original (`storage_key`, `sha256`) and, when a photo carried location or
camera data or is HEIC, a view (`view_key`, ...). Pages and downloads show the view; the original, byte for byte
the upload with its SHA-256, is for staff: a download (never shown inline) the customer cannot reach.
"""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from ..actor import Actor
from ..errors import Forbidden
from ..storage import EvidenceStore


def shown(store: EvidenceStore, row, **headers: str) -> StreamingResponse:
    """The copy people see (the original when nothing had to be taken out), with its own checksum."""
    if row.view_key:
        key, media, size, sha = row.view_key, row.view_type, row.view_size, row.view_sha256
    else:
        key, media, size, sha = row.storage_key, row.content_type, row.size, row.sha256
    return StreamingResponse(store.open(key), media_type=media, headers={
        "Content-Length": str(size), "X-Checksum-SHA256": sha, "X-Original-SHA256": row.sha256,
        "X-Content-Type-Options": "nosniff", **headers})


def original(store: EvidenceStore, row, actor: Actor) -> StreamingResponse:
    """The file exactly as uploaded, as a download; staff only."""
    if actor.kind != "staff":
        raise Forbidden("forbidden_role", role=actor.role, what="download the original file", allowed=["staff"])
    ext = row.storage_key.rsplit(".", 1)[-1]
    return StreamingResponse(store.open(row.storage_key), media_type=row.content_type, headers={
        "Content-Length": str(row.size), "X-Checksum-SHA256": row.sha256, "X-Original-SHA256": row.sha256,
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="{row.sha256}.{ext}"'})
