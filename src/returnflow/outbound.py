"""Every outbound HTTP call goes through here: http(s) only, public addresses only, pinned, bounded in time and size.

A URL is checked when it is saved (`check_url`, a 422 naming the field) and again when it is called (`request`):
the host is resolved, every address must be public (or the host or address named in the deployment's allowed
hosts), and the connection goes to the address that was checked, so a name that resolves elsewhere a second time
(DNS rebinding) gains nothing. TLS still verifies the certificate for the host name (SNI), and the Host header is
the host name. Redirects are not followed: a 3xx is an answer like any other non-2xx.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from .errors import Explained
from .i18n import N_, SUPPORTED, every, said

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network((0x64_FF9B << 96, 96))  # RFC 6052 well-known NAT64 prefix

# Why an address is refused, as msgids of the catalogs (the address itself is added to the message).
REASONS = {
    "unspecified": N_("an unspecified address"),
    "loopback": N_("a loopback address (this machine)"),
    "link_local": N_("a link-local address"),
    "multicast": N_("a multicast address"),
    "private": N_("a private network address"),
    "reserved": N_("a reserved address"),
    "non_public": N_("an address that is not on the public internet"),
}


class OutboundError(Exception):
    """A call that did not get an answer: refused by the guard, unreachable, timed out. The text names no secret."""


class Refused(OutboundError):
    """The guard refused the target: bad URL form, or an address that is not allowed. Said as an English msgid of
    the catalogs with {placeholders} (a value given as {language: text} is picked per reader): `said(locale)`."""

    def __init__(self, text: str, /, **values: object) -> None:
        self.text, self.values = text, values
        super().__init__(self.said("en"))

    def said(self, locale: str) -> str:
        return said(locale, self.text, self.values)

    @property
    def en(self) -> str:
        return self.said("en")

    @property
    def zh(self) -> str:
        """In zh-CN, for readers not yet converted (use said(locale))."""
        return self.said("zh-CN")

    def every(self) -> dict[str, str]:
        """The reason in every language of the desk: {language: text}."""
        return {tag: self.said(tag) for tag in SUPPORTED}

    def refusal(self, field: str, **kw: object) -> Explained:
        """The 422 refusal naming `field`, in the reader's language."""
        return Explained(field, self.text, **kw, **self.values)


class Unresolved(Refused):
    """The host name did not resolve (now): refused on save, but no proof that the configuration is wrong."""


@dataclass(frozen=True)
class Allowed:
    """The deployment's allowed hosts: names match the URL's host, addresses and networks match what it resolves to."""

    names: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Allowed:
        names, networks = set(), []
        for item in re.split(r"[\s,;]+", text or ""):
            item = item.strip().strip("[]").lower().rstrip(".")
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                names.add(item)
        return cls(frozenset(names), tuple(networks))

    def host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def address(self, ip: IP) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)


def classify(ip: IP) -> str | None:
    """Why `ip` is not a public destination (a key of REASONS), or None if it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4-mapped address reaches its IPv4 address
            return classify(ip.ipv4_mapped)
        embedded = [ip.sixtofour, *(ip.teredo or ()),
                    ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None]
        for inner in embedded:
            if inner is not None and (reason := classify(inner)):
                return reason
    for key in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{key}"):
            return key
    return None if ip.is_global else "non_public"


def _getaddrinfo(host: str, port: int) -> list:
    # A seam of its own, so tests can make a name resolve elsewhere in the process under test.
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve(host: str, port: int) -> list[IP]:
    """Every address `host` resolves to, in the resolver's order; Refused if it resolves to none."""
    try:
        infos = _getaddrinfo(host, port)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise Unresolved(N_("the host {host} could not be resolved ({error})"), host=host,
                         error=exc.__class__.__name__) from None
    found: list[IP] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise Unresolved(N_("the host {host} has no address"), host=host)
    return found


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`) and what to say (host for TLS and Host, path with query)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IP, ...]


def _form(url: str):
    """The URL split, if it is an http(s) URL with a host and nothing hidden in it; Refused otherwise."""
    if not isinstance(url, str) or not url or any(unicodedata.category(c) in ("Cc", "Zs", "Zl", "Zp") for c in url):
        raise Refused(N_("must be an http:// or https:// URL with a host, without spaces or control characters"))
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise Refused(N_("has a port that is not a number from 1 to 65535")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(N_("must be an http:// or https:// URL with a host"))
    if parts.username is not None or parts.password is not None:
        raise Refused(N_("must not contain a user name or password"))
    if port == 0:
        raise Refused(N_("has a port that is not a number from 1 to 65535"))
    return parts, port or (443 if parts.scheme == "https" else 80)


def target(url: str, allowed: Allowed) -> Target:
    """Checks `url` now (form, resolution, every address); Refused says why not."""
    parts, port = _form(url)
    host = parts.hostname.rstrip(".") or parts.hostname
    addresses = resolve(host, port)
    if not allowed.host(host):
        for ip in addresses:
            reason = classify(ip)
            if reason and not allowed.address(ip):
                raise Refused(N_("points at {kind} ({ip}); outbound calls go only to public addresses unless the "
                                 "deployment allows the host (RETURNFLOW_OUTBOUND_ALLOWED_HOSTS)"),
                              kind=every(REASONS[reason]), ip=str(ip))
    path = parts.path or "/"
    return Target(parts.scheme, host, port, path + (f"?{parts.query}" if parts.query else ""), tuple(addresses))


def check_url(url: str, allowed: Allowed, *, field: str) -> None:
    """The save-time check: a 422 naming `field` in the reader's language when `url` may not be called."""
    try:
        target(url, allowed)
    except Refused as exc:
        raise exc.refusal(field, code="outbound_refused") from None


def check_form(url: str, *, field: str) -> None:
    """The form alone (no resolution): http(s), a host, no credentials, no control characters."""
    try:
        _form(url)
    except Refused as exc:
        raise exc.refusal(field, code="outbound_refused") from None


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case (providers sign their answers)


def _connection(t: Target, address: IP, timeout: float) -> http.client.HTTPConnection:
    if t.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            t.host, t.port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(t.host, t.port, timeout=timeout)
    # Connect to the checked address; http.client keeps the host name for the Host header and TLS (SNI and the
    # certificate check), so the name is never resolved a second time.
    conn._create_connection = lambda _addr, tmo, source=None: socket.create_connection(  # type: ignore[attr-defined]
        (str(address), t.port), tmo, source)
    return conn


def request(method: str, url: str, *, allowed: Allowed, timeout: float, body: bytes | None = None,
            headers: dict[str, str] | None = None, max_bytes: int = 65536) -> Answer:
    """One HTTP exchange within `timeout` seconds in all; the answer's body is cut at `max_bytes`.

    Raises Refused when the target may not be called, OutboundError when no answer came."""
    try:
        t = target(url, allowed)
    except Refused as exc:
        raise Refused(N_("{url} refused: {problem}"), url=redact_url(url), problem=exc.every()) from None
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    for address in t.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        conn = _connection(t, address, remaining)
        try:
            try:
                conn.connect()
            except OSError as exc:  # this address does not answer: try the next one the name has
                last = exc
                continue
            conn.request(method, t.path, body=body, headers={"User-Agent": "returnflow", **(headers or {})})
            sock = conn.sock  # kept: http.client lets go of it once the answer says it closes the connection
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            response = conn.getresponse()
            chunks, size = [], 0
            while size < max_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the answer took longer than the timeout")
                sock.settimeout(left)
                chunk = response.read1(min(65536, max_bytes - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return Answer(response.status, b"".join(chunks),
                          {k.lower(): v for k, v in response.getheaders()})
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise OutboundError(f"{redact_url(url)}: {_why(exc)}") from None
        finally:
            conn.close()
    raise OutboundError(f"{redact_url(url)} unreachable: {_why(last) if last else 'timed out'}")


def _why(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return excerpt(f"{exc.__class__.__name__}: {exc}", 160)


# ---- what may be shown: excerpts, masked secrets, URLs without credentials -------------------------------------

_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def excerpt(answer: bytes | str, limit: int = 200) -> str:
    """A short, single-line, printable excerpt of an answer: control and format characters dropped, whitespace
    collapsed, at most `limit` characters (an ellipsis marks the cut)."""
    text = answer.decode("utf-8", errors="replace") if isinstance(answer, (bytes, bytearray)) else str(answer)
    text = _ESCAPES.sub("", text[: limit * 4])  # terminal colour and cursor codes go whole, not just their ESC
    cleaned = "".join(" " if c in "\t\r\n" else c for c in text if c in "\t\r\n"
                      or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def mask(secret: str | None) -> str:
    """A secret as it may be shown: its kind prefix (e.g. whsec_) and last four characters, or dots only when it
    is too short to keep any of it back safely; empty stays empty."""
    if not secret:
        return ""
    if len(secret) < 16:
        return "••••"
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:9] else ""
    return f"{prefix}••••{secret[-4:]}"


def redact_url(url: str) -> str:
    """The URL as it may be shown: no user name or password, query values masked, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return excerpt(url.split("?", 1)[0].split("@")[-1], 120)
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    query = "&".join(f"{k}=•••" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    shown = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
    return excerpt(shown, 300)
