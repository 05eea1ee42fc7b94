"""The outbound guard's rules on their own: which addresses are public, what an excerpt keeps, how secrets and URLs
are shown."""

from __future__ import annotations

import ipaddress
import unicodedata
from itertools import islice

from hypothesis import given
from hypothesis import strategies as st

from returnflow.outbound import Allowed, classify, excerpt, mask, redact_url


# Every address below is derived from what Python's ipaddress knows of the networks, so no literal address other than
# 127.0.0.1 appears in the repository; nothing here connects anywhere.
V4, V6 = ipaddress.IPv4Address._constants, ipaddress.IPv6Address._constants
LOOPBACK = ipaddress.ip_address("127.0.0.1")
LOOPBACK_V6 = ipaddress.IPv6Address(1)
UNSPECIFIED_V6 = ipaddress.IPv6Address(0)
NAT64 = ipaddress.IPv6Network((0x64_FF9B << 96, 96))  # RFC 6052's well-known prefix


def first(net):
    return next(iter(net.hosts()), net.network_address)


def mapped(ip4):
    """The IPv4-mapped IPv6 form of `ip4`."""
    return ipaddress.IPv6Address((0xFFFF << 32) | int(ip4))


def mapped_dotted(ip4) -> str:
    """The same, spelled with the IPv4 address in dotted form at its end."""
    return ":".join(mapped(ip4).exploded.split(":")[:6]) + f":{ip4}"


def sixtofour(ip4):
    """The 6to4 (RFC 3056) address around `ip4`."""
    six = ipaddress.IPv6Address((0x2002 << 112) | (int(ip4) << 80))
    assert six.sixtofour == ip4
    return six


def nat64(ip4):
    return NAT64[int(ip4)]


def plain_private(constants, others) -> list:
    """The networks Python calls private that are nothing else (not loopback, link-local, reserved, multicast,
    unspecified, Teredo): an address there is refused as private."""
    return [n for n in constants._private_networks
            if not any(n.overlaps(o) for o in others) and getattr(first(n), "teredo", None) is None]


PRIVATE_V4 = plain_private(V4, [V4._loopback_network, V4._linklocal_network, V4._reserved_network,
                                V4._multicast_network, ipaddress.ip_network(V4._unspecified_address)])
PRIVATE_V6 = plain_private(V6, [V6._linklocal_network, V6._multicast_network, *V6._reserved_networks])
PUBLIC_V4 = next(a for a in (ipaddress.IPv4Address((n << 24) + 1) for n in range(1, 224)) if a.is_global)
PUBLIC_V6 = next(a for a in (ipaddress.IPv6Address((n << 112) + 1) for n in range(0x2000, 0x4000)) if a.is_global)


def test_addresses_are_classified_whatever_their_spelling():
    private4 = first(PRIVATE_V4[0])
    link_local4 = first(V4._linklocal_network)
    multicast4 = V4._multicast_network
    expected = {
        str(PUBLIC_V4): None, str(PUBLIC_V6): None, str(mapped(PUBLIC_V4)): None, mapped_dotted(PUBLIC_V4): None,
        str(LOOPBACK): "loopback", str(LOOPBACK + 1): "loopback", str(LOOPBACK_V6): "loopback",
        str(mapped(LOOPBACK)): "loopback", mapped_dotted(LOOPBACK): "loopback", str(sixtofour(LOOPBACK)): "loopback",
        str(link_local4): "link_local", str(V4._linklocal_network[-2]): "link_local",
        str(first(V6._linklocal_network)): "link_local", str(mapped(link_local4)): "link_local",
        str(private4): "private", str(PRIVATE_V4[0][-1]): "private", mapped_dotted(private4): "private",
        str(nat64(private4)): "private", str(sixtofour(private4)): "private",
        str(first(multicast4)): "multicast", str(multicast4[-1]): "multicast",
        str(first(V6._multicast_network)): "multicast",
        str(first(V4._reserved_network)): "reserved", str(V4._unspecified_address): "unspecified",
        str(UNSPECIFIED_V6): "unspecified", str(first(V4._public_network)): "non_public",
    }
    got = {a: classify(ipaddress.ip_address(a)) for a in expected}
    assert got == expected


def test_every_network_python_calls_private_is_refused_in_every_spelling():
    # The plain ones (RFC 1918, unique local, documentation, benchmarking...) are refused as private.
    assert len(PRIVATE_V4) >= 8 and len(PRIVATE_V6) >= 3, (PRIVATE_V4, PRIVATE_V6)
    for net in PRIVATE_V4 + PRIVATE_V6:
        assert classify(first(net)) == "private" and classify(net[-1]) == "private", net
    # The rest overlap another class (loopback, Teredo around the unspecified address...): refused all the same.
    for net in [*V4._private_networks, *V6._private_networks]:
        for ip in {first(net), net[-1]}:
            reason = classify(ip)
            assert reason is not None, ip
            if ip.version == 4:
                for spelling in (mapped(ip), mapped_dotted(ip), nat64(ip), sixtofour(ip), int(ip)):
                    assert classify(ipaddress.ip_address(spelling)) == reason, (ip, spelling)


def test_allowed_hosts_are_names_addresses_and_networks():
    # An office network in CIDR form and the one next to it, inside the first large private network.
    office, neighbour = islice(next(n for n in PRIVATE_V4 if n.prefixlen <= 16).subnets(new_prefix=16), 2)
    allowed = Allowed.parse(f" 127.0.0.1, ERP.internal. ;{office}\n[{LOOPBACK_V6}] ")
    assert allowed.host("erp.internal") and allowed.host("ERP.Internal.") and not allowed.host("internal")
    assert allowed.address(office[200 * 256 + 1]) and not allowed.address(first(neighbour))
    assert allowed.address(ipaddress.ip_address(mapped_dotted(LOOPBACK))) and allowed.address(mapped(LOOPBACK))
    assert allowed.address(LOOPBACK_V6) and not allowed.address(LOOPBACK + 1)
    assert Allowed.parse("") == Allowed() and not Allowed.parse(None).address(ipaddress.ip_address("127.0.0.1"))


@given(st.one_of(st.binary(max_size=3000), st.text(max_size=3000)), st.integers(min_value=10, max_value=400))
def test_an_excerpt_is_short_single_line_and_printable(answer, limit):
    text = excerpt(answer, limit)
    assert len(text) <= limit
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)
    assert text == text.strip() and "  " not in text


def test_an_excerpt_drops_terminal_codes_and_marks_the_cut():
    assert excerpt(b"\x1b[1;31mError\x1b[0m:\r\n  boom\x00") == "Error: boom"
    assert excerpt("x" * 500, 200) == "x" * 199 + "…"


def test_secrets_keep_only_their_kind_and_last_four_characters():
    assert mask("whsec_" + "A" * 40 + "wxyz") == "whsec_••••wxyz"
    assert mask("sk-live-abcdefghijklmnop") == "••••mnop"
    assert mask("short-pass") == "••••" and mask("") == "" and mask(None) == ""


def test_urls_are_shown_without_credentials_query_values_or_fragment():
    assert redact_url("https://bob:pw@api.example.com:8443/v1/send?key=K123&to=1#x") == \
        "https://api.example.com:8443/v1/send?key=•••&to=•••"
    assert redact_url(f"http://[{LOOPBACK_V6}]:9/h") == f"http://[{LOOPBACK_V6}]:9/h"
    assert "K123" not in redact_url("http://a.test:bad/x?key=K123")
