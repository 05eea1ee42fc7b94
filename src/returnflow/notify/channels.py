"""Channels: email over SMTP, SMS and push through HTTP providers, in-app messages stored for the portal.

Each `send_*` raises DeliveryError with a readable reason when the message did not go out; the outbox keeps it,
retries later and shows the reason to admins.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from .. import outbound
from ..outbound import Allowed
from .config import DeliverySettings


class DeliveryError(Exception):
    """`permanent`: trying again cannot help (no approved template, a parameter over the provider's limit); the
    message is dead-lettered at once with this reason instead of retried."""

    def __init__(self, message: str, status_code: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.permanent = permanent


def send_email(settings: DeliverySettings, *, to: str, subject: str, body: str, message_id: str) -> str:
    """Sends one email over SMTP; returns the server's answer to the message."""
    if not settings.smtp_host:
        raise DeliveryError("email is not configured: set RETURNFLOW_SMTP_HOST (and _PORT, _FROM)")
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(idstring=message_id, domain=settings.smtp_from.rpartition("@")[2] or "localhost")
    msg["X-Returnflow-Message"] = message_id
    msg.set_content(body)
    try:
        cls = smtplib.SMTP_SSL if settings.smtp_ssl else smtplib.SMTP
        with cls(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP server refused: {exc.smtp_code} {outbound.excerpt(exc.smtp_error)}",
                            exc.smtp_code) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {settings.smtp_host}:{settings.smtp_port} unreachable or failed: "
                            f"{outbound.excerpt(str(exc))}") from None
    if refused:
        raise DeliveryError(f"SMTP server refused recipients: {outbound.excerpt(str(refused))}")
    return "250 accepted"


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float, allowed: Allowed,
              method: str = "POST") -> tuple[int, bytes]:
    """POSTs `body` through the outbound guard; returns (status, the answer's first 64 KiB). A refused target or a
    network failure is a DeliveryError whose text names the URL without its secrets."""
    try:
        answer = outbound.request(method, url, body=body, headers={"Content-Type": "application/json", **headers},
                                  timeout=timeout, allowed=allowed)
    except outbound.OutboundError as exc:  # refused by the guard, or no answer
        raise DeliveryError(str(exc)) from None
    return answer.status, answer.body


def send_via_provider(url: str, token: str, timeout: float, *, kind: str, to: str, subject: str, text: str,
                      message_id: str, allowed: Allowed) -> str:
    """SMS or push through an HTTP provider; its answer must be 2xx JSON with an "id"."""
    if not url:
        raise DeliveryError(f"{kind} is not configured: set RETURNFLOW_{kind.upper()}_URL")
    body = json.dumps({"to": to, "subject": subject, "text": text, "message_id": message_id},
                      ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers["Idempotency-Key"] = message_id
    status, answer = post_json(url, body, headers, timeout, allowed)
    if not 200 <= status < 300:
        raise DeliveryError(f"{kind} provider answered HTTP {status}: {outbound.excerpt(answer)}", status)
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not parsed.get("id"):
        raise DeliveryError(f"{kind} provider answered garbage (expected JSON with an id): "
                            f"{outbound.excerpt(answer)!r}", status)
    return outbound.excerpt(str(parsed["id"]), 200)
