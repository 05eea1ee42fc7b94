"""The case API: open, find, act, evidence."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime

from ..errors import InvalidInput, NotFound
from ..web import DB, JSON, CurrentActor, current_actor, mutate
from . import files, service
from .current import CurrentCase
from .evidence import ALLOWED, MESSAGE_FILES, attach, receive
from .models import Attachment, CaseState, CaseType, Channel
from .schemas import ActionRequest, CaseCreate, CasePage, CaseRead
from .views import attachment_dict, event_dict, present
from .visibility import choice
from .workflow import ACTIONS

router = APIRouter(tags=["cases"])


@router.post("/cases", status_code=201, response_model=CaseRead)
async def open_case(body: CaseCreate, request: Request):
    """Opens a case (售后单) for an order; it is numbered at once."""
    actor = await current_actor(request)

    def work(session):
        case = service.open_case(session, actor=actor, data=body)
        return 201, present(session, [case], actor)[0]

    return await mutate(request, actor, work)


@router.get("/cases", response_model=CasePage)
async def list_cases(actor: CurrentActor, db: DB, state: list[CaseState] = Query(default=[]),
                     type: CaseType | None = None, channel: Channel | None = None, assignee: int | None = None,
                     order: str | None = None, customer: str | None = None, created_from: AwareDatetime | None = None,
                     created_to: AwareDatetime | None = None, q: str | None = Query(default=None, max_length=200),
                     limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
    """Cases filtered by state, type, channel, assignee, order, customer, date range or text; newest first."""
    with db.read() as session:
        rows, total = service.list_cases(
            session, actor=actor, state=[s.value for s in state], type=type.value if type else None,
            channel=channel.value if channel else None, assignee_id=assignee, order=order, customer=customer,
            created_from=created_from, created_to=created_to, q=q, limit=limit, offset=offset)
        return JSON({"items": present(session, rows, actor), "total": total, "limit": limit, "offset": offset})


@router.get("/cases/{number}", response_model=CaseRead)
async def get_case(case: CurrentCase, actor: CurrentActor, db: DB):
    """One case with its lines, evidence and timeline."""
    with db.read() as session:
        return JSON(present(session, [case], actor, detail=True)[0])


@router.get("/cases/{number}/timeline")
async def get_timeline(case: CurrentCase, db: DB) -> list[dict]:
    """The case's events, oldest first."""
    with db.read() as session:
        return [event_dict(e) for e in service.timeline(session, case=case)]


@router.post("/cases/{number}/actions/{action}", response_model=CaseRead)
async def act(number: str, body: ActionRequest, request: Request,
              action: str = Path(json_schema_extra={"enum": [a for a in ACTIONS if a != "attach"]})):
    """Fires a workflow action; `version` must be the case's current version (409 otherwise)."""
    actor = await current_actor(request)  # called rather than injected: the busiest route skips a dependency
    if action not in ACTIONS or action == "attach":
        raise InvalidInput("unknown_action", field="action", action=action,
                           allowed=[a for a in ACTIONS if a != "attach"])

    def work(session):
        case = service.act(session, actor=actor, number=number, action=action, version=body.version,
                           payload=body.payload, visibility=body.visibility)
        return 200, present(session, [case], actor)[0]

    return await mutate(request, actor, work)


_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/cases/{number}/attachments", status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload(number: str, actor: CurrentActor, request: Request,
                 visibility: str | None = Query(default=None, max_length=10)):
    """Adds an evidence photo or video (multipart field `file`); the type is checked from the content, not the name.
    A file staff add is internal unless `visibility=customer` shares it with the customer.

    The body is read here, not by the framework: the size limit of the detected kind is enforced while the bytes
    arrive, and an unauthenticated request is refused before any of it is read.
    """
    settings = request.app.state.settings
    chosen = choice(visibility)  # refused before the body is read
    incoming = await receive(request, settings)
    try:
        def work(session):
            case = service.get_case(session, actor=actor, number=number)
            attachment = attach(session, store=request.app.state.store, settings=settings, actor=actor, case=case,
                                upload=incoming, visibility=chosen)
            return 201, attachment_dict(attachment)

        # The stream is consumed, and a multipart body differs on every retry (random boundary): Idempotency-Key
        # compares the file's name, size and checksum (and who may see it) instead.
        return await mutate(request, actor, work,
                            fingerprint=incoming.fingerprint() + f"\n{chosen or ''}".encode())
    finally:
        incoming.close()


@router.get("/cases/{number}/attachments/{attachment_id}",
            responses={200: {"description": "The file", "content": {t: {} for t in {**ALLOWED, **MESSAGE_FILES}}}})
async def download(case: CurrentCase, attachment_id: int, actor: CurrentActor, db: DB, request: Request,
                   original: bool = False):
    """The evidence file as people see it (a photo's location data stripped, HEIC as JPEG), streamed, with its
    SHA-256 in X-Checksum-SHA256 and the upload's in X-Original-SHA256; `original=true` gives staff the file
    exactly as uploaded, as a download."""
    with db.read() as session:
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.case_id != case.id:
            raise NotFound("attachment", attachment_id, field="attachment_id")
    if original:
        return files.original(request.app.state.store, attachment, actor)
    return files.shown(request.app.state.store, attachment,
                       **{"Content-Disposition": f'inline; filename="{attachment.view_sha256 or attachment.sha256}"'})
