"""The policy editor changes one value of the merchant's TOML with tomlkit, keeping every comment and layout: the
three inputs the line-by-line editor broke on (a comment after a section header, a multi-line array, an inline
table), through the function and through the settings page."""

from __future__ import annotations

import tomllib

from sqlalchemy import select

from returnflow.pages.settings_policy import set_key
from returnflow.policy.models import PolicyVersion
from tests.support.asgi import TestClient
from tests.support.portal import csrf_of, sign_in_staff
from tests.support.world import make_shop

HEADER_COMMENT = '[policy]\nid = "cfg"\nextends = "cn-law"\n\n[window]   # our own window\ndays = 7    # CN1\n'
MULTILINE_ARRAY = ('[policy]\nid = "cfg"\nextends = "cn-law"\n\n[window]\nextra = [\n  ["a", "b"],  # pair\n'
                   '  ["c", "d"],\n]\ncounted_from = "signing"   # CN1\n')
INLINE_TABLE = 'window = { days = 7, counted_from = "signing" }   # short form\n\n[policy]\nid = "cfg"\n'


def test_a_comment_after_a_section_header_is_kept_and_the_section_not_doubled():
    out = set_key(HEADER_COMMENT, "window", "days", "15")
    assert out == HEADER_COMMENT.replace("days = 7    # CN1", "days = 15    # CN1")
    assert tomllib.loads(out)["window"] == {"days": 15}


def test_a_multi_line_array_is_kept_as_written():
    out = set_key(MULTILINE_ARRAY, "window", "counted_from", '"delivery"')
    assert out == MULTILINE_ARRAY.replace('counted_from = "signing"', 'counted_from = "delivery"')
    assert tomllib.loads(out)["window"]["extra"] == [["a", "b"], ["c", "d"]]
    removed = set_key(MULTILINE_ARRAY, "window", "counted_from", None)
    assert removed == MULTILINE_ARRAY.replace('counted_from = "signing"   # CN1\n', "")


def test_an_inline_table_is_edited_in_place():
    out = set_key(INLINE_TABLE, "window", "days", "15")
    assert out == INLINE_TABLE.replace("days = 7", "days = 15")
    assert tomllib.loads(out)["window"] == {"days": 15, "counted_from": "signing"}
    added = set_key(INLINE_TABLE, "approval", "auto_max_amount", "299.50")
    assert added.startswith(INLINE_TABLE) and added.endswith("[approval]\nauto_max_amount = 299.50\n")


def test_the_page_publishes_the_edit_keeping_the_files_comments(app, db):
    make_shop(db, "cfg", return_address=False)
    web = TestClient(app, headers={"Accept-Language": "en"})
    sign_in_staff(web, "admin@cfg.test", "pw-admin")
    token = csrf_of(web)
    inline = INLINE_TABLE.replace('id = "cfg"\n', 'id = "cfg"\nextends = "cn-law"\n')
    expected = {HEADER_COMMENT: HEADER_COMMENT.replace("days = 7 ", "days = 15 ") + 'counted_from = "signing"\n',
                inline: inline.replace("days = 7", "days = 15")}
    for source, edited in expected.items():
        r = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "source": source,
                                                     "confirm": "yes"})
        assert r.status_code == 200, r.text[-400:]
        r = web.post("/staff/settings/policy", data={"csrf": token, "intent": "publish", "policy.extends": "cn-law",
                                                     "window.days": "15", "window.counted_from": "signing",
                                                     "confirm": "yes"})
        assert r.status_code == 200 and "The new policy version was published" in r.text
        with db.read() as session:
            latest = session.scalar(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))
        assert latest.source == edited
