"""The outbound guard's rules on their own: which addresses are public, what an excerpt keeps, how secrets and URLs
are shown."""

from __future__ import annotations

import ipaddress
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from returnflow.outbound import Allowed, classify, excerpt, mask, redact_url


def test_addresses_are_classified_whatever_their_spelling():
    expected = {
        "8.8.8.8": None, "93.184.216.34": None, "2606:4700::1111": None, "::ffff:8.8.8.8": None,
        "127.0.0.1": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback", "2002:7f00:1::": "loopback",
        "169.254.169.254": "link_local", "fe80::1": "link_local", "::ffff:169.254.169.254": "link_local",
        "10.0.0.1": "private", "172.31.255.255": "private", "192.168.0.1": "private", "fc00::1": "private",
        "64:ff9b::a00:1": "private", "224.0.0.251": "multicast", "ff02::fb": "multicast", "239.1.1.1": "multicast",
        "240.0.0.1": "reserved", "0.0.0.0": "unspecified", "::": "unspecified", "100.64.0.1": "non_public",
        "2001:db8::1": "private",
    }
    got = {a: classify(ipaddress.ip_address(a)) for a in expected}
    assert got == expected


def test_allowed_hosts_are_names_addresses_and_networks():
    allowed = Allowed.parse(" 127.0.0.1, ERP.internal. ;10.8.0.0/16\n[::1] ")
    assert allowed.host("erp.internal") and allowed.host("ERP.Internal.") and not allowed.host("internal")
    assert allowed.address(ipaddress.ip_address("10.8.200.1")) and not allowed.address(ipaddress.ip_address("10.9.0.1"))
    assert allowed.address(ipaddress.ip_address("::ffff:127.0.0.1")) and allowed.address(ipaddress.ip_address("::1"))
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
    assert redact_url("http://[::1]:9/h") == "http://[::1]:9/h"
    assert "K123" not in redact_url("http://a.test:bad/x?key=K123")
