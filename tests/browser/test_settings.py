"""The admin's settings in headless Chromium, in zh-CN and English: add a staff member, lengthen the return window,
preview it against a real order, publish it and see the dry run decide under the new version; edit and preview a
notification template; add a webhook. Every page is screenshot at phone and desktop widths and checked with axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from returnflow.auth.models import StaffEvent, User
from returnflow.cases.models import WebhookEndpoint
from returnflow.notify.models import MessageTemplate
from returnflow.policy.models import PolicyVersion
from tests.support.walk import DESKTOP, Walk, staff_signs_in
from tests.support.portal import recent_order
from tests.support.world import make_shop

pytestmark = pytest.mark.browser

WORDS = {
    "zh-CN": {"sign_in": "登录", "settings": "设置", "add_user": "添加员工", "created": "已创建",
              "preview": "校验并预览", "publish": "发布为新版本", "run": "试算", "published": "新的政策版本已发布",
              "edit_template": "编辑 已受理申请（中文 (简体)）", "confirm": "确认，发布为新版本", "tpl_preview": "预览", "save": "保存", "saved": "模板已保存",
              "add_webhook": "添加 Webhook", "notifications": "通知", "sla": "处理时效（SLA）",
              "addresses": "退货地址", "policy": "售后政策", "bad_days": "请输入 1 到 3650 之间的整数天数",
              "body": "您好，售后单 {number} 已受理，当前状态：{state_label}。", "forbidden": "只有管理员可以打开设置", "save_address": "保存地址"},
    "en": {"sign_in": "Sign in", "settings": "Settings", "add_user": "Add the staff member", "created": "was created",
           "preview": "Validate and preview", "publish": "Publish as a new version", "run": "Run",
           "published": "The new policy version was published", "edit_template": "Edit Request received in English",
           "confirm": "Yes, publish as a new version",
           "tpl_preview": "Preview", "save": "Save", "saved": "The template was saved", "add_webhook": "Add the webhook",
           "notifications": "Notifications", "sla": "Deadlines (SLA)", "addresses": "Return addresses",
           "policy": "Return policy", "bad_days": "Enter a whole number of days from 1 to 3650",
           "body": "Hello, we received request {number}; it is now: {state_label}.",
           "forbidden": "Only administrators can open the settings", "save_address": "Save the address"},
}


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_admin_changes_the_settings(live, chromium, shots, locale):
    base, db = live
    w = WORDS[locale]
    code = "set-" + locale.lower()
    shop = make_shop(db, code)
    # Delivered 10 days ago: outside the statutory 7 days, inside a 15-day window.
    order = recent_order(db, shop.id, f"ST{shop.id:04d}01", customer=f"S-{locale}", days_ago=10)
    walk = Walk(locale, shots)
    walk.prefix = f"{locale.lower()}-settings"
    ctx = chromium.new_context(locale=locale, viewport=DESKTOP, bypass_csp=True)
    page = ctx.new_page()
    external = []
    page.on("request", lambda r: None if r.url.startswith((base, "data:")) else external.append(r.url))

    # An agent does not see the settings, and is refused in their language at the address.
    staff_signs_in(page, base, f"agent@{code}.test", "pw-agent", w["sign_in"])
    expect(page.get_by_role("navigation", name=re.compile(".")).first.get_by_role("link", name=w["settings"])).to_have_count(0)
    refused = page.goto(f"{base}/staff/settings/policy")
    assert refused.status == 403 and w["forbidden"] in page.locator("main").inner_text()
    ctx.clear_cookies()

    staff_signs_in(page, base, f"admin@{code}.test", "pw-admin", w["sign_in"])
    page.locator("header").get_by_role("link", name=w["settings"]).click()
    page.wait_for_url(re.compile(r"/staff/settings/users$"))
    walk.page(page, "users")

    # Adds a staff member: a bad email is refused beside the field, nothing is saved; then it is fixed.
    page.locator("#email").fill("not-an-email")
    page.locator("#name").fill("新同事" if locale == "zh-CN" else "New colleague")
    page.locator("#role").select_option("supervisor")
    page.get_by_role("button", name=w["add_user"]).click()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-err")).to_be_visible()
    page.locator("#email").fill(f"new@{code}.test")
    page.get_by_role("button", name=w["add_user"]).click()
    expect(page.locator("#created")).to_contain_text(w["created"])
    temporary = page.locator("#temporary-password").inner_text().strip()
    assert temporary.startswith("rf-")
    walk.page(page, "users-added")
    with db.read() as session:
        user = session.scalar(select(User).where(User.email == f"new@{code}.test"))
        assert user.role == "supervisor" and user.merchant_id == shop.id

    # The policy: under the preset the order is out of time.
    page.get_by_role("link", name=w["policy"]).click()
    page.locator("#try-order").fill(order)
    page.get_by_role("button", name=w["run"]).click()
    expect(page.locator("#answer section.decision.no")).to_have_count(1)

    # Edits the window: a wrong value is refused on the field, then 15 days previewed against the order.
    page.locator("#window-days").fill("fifteen")
    page.locator("#order").fill(order)
    page.get_by_role("button", name=w["preview"]).first.click()
    expect(page.locator("#window-days-err")).to_contain_text(w["bad_days"])
    page.locator("#window-days").fill("15")
    page.get_by_role("button", name=w["preview"]).first.click()
    expect(page.locator("#valid")).to_be_visible()
    expect(page.locator("#answer section.decision.ok")).to_have_count(1)
    walk.page(page, "policy-preview")
    with db.read() as session:
        assert session.scalar(select(PolicyVersion).where(PolicyVersion.merchant_id == shop.id)) is None

    # Publishes; the new version is in force and the dry run decides under it.
    page.get_by_role("button", name=w["publish"]).first.click()
    expect(page.locator("#confirm pre.diff")).to_be_visible()  # the change, asked before it is saved
    page.get_by_role("button", name=w["confirm"]).click()
    expect(page.locator("p.flash")).to_contain_text(w["published"])
    expect(page.locator("#current-version")).to_contain_text("1")
    page.locator("#try-order").fill(order)
    page.get_by_role("button", name=w["run"]).click()
    expect(page.locator("#answer section.decision.ok")).to_have_count(1)
    expect(page.locator("#answer .rule").first).to_contain_text("v1")
    walk.page(page, "policy")
    with db.read() as session:
        row = session.scalar(select(PolicyVersion).where(PolicyVersion.merchant_id == shop.id))
        assert row.version == 1 and "days = 15" in row.source
    page.get_by_role("link", name=re.compile(r"1$")).first.click()
    expect(page.locator("pre.diff .add").filter(has_text="days = 15")).to_have_count(1)
    walk.page(page, "policy-version")

    # A notification template: edited, previewed with a sample case, saved.
    page.goto(f"{base}/staff/settings/notifications")
    walk.page(page, "notifications")
    page.get_by_role("link", name=w["edit_template"]).click()
    page.locator("#body").fill(w["body"].replace("{state_label}", "{state_lable}"))
    page.get_by_role("button", name=w["tpl_preview"], exact=True).click()
    expect(page.locator("#body")).to_have_attribute("aria-invalid", "true")
    page.locator("#body").fill(w["body"])
    page.get_by_role("button", name=w["tpl_preview"], exact=True).click()
    expect(page.locator("#preview .quote")).to_contain_text("AS")
    assert "{number}" not in page.locator("#preview").inner_text()
    walk.page(page, "template")
    page.get_by_role("button", name=w["save"], exact=True).click()
    expect(page.locator("p.flash")).to_contain_text(w["saved"])
    with db.read() as session:
        saved = session.scalar(select(MessageTemplate).where(MessageTemplate.merchant_id == shop.id))
        assert saved.body == w["body"] and saved.locale == locale

    # A webhook: added, its secret shown once, listed.
    page.goto(f"{base}/staff/settings/notifications")
    page.locator("#url").fill("http://127.0.0.1:9/hooks/returnflow")
    for event in ("approve", "close"):  # case events chosen from the list, named in words
        page.locator(f"#events-{event}").check()
    page.get_by_role("button", name=w["add_webhook"]).click()
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    walk.page(page, "webhook-added")
    with db.read() as session:
        hook = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == shop.id))
        assert hook.secret == secret and hook.events == ["approve", "close"]
    page.reload()
    assert secret not in page.content()  # never shown again

    page.goto(f"{base}/staff/settings/sla")
    walk.page(page, "sla")

    # A return warehouse, routed by category.
    page.goto(f"{base}/staff/settings/addresses")
    page.locator("#code").fill("sh-1")
    page.locator("#name").fill("上海退货仓" if locale == "zh-CN" else "Shanghai returns")
    page.locator("#address").fill("上海市浦东新区示例路 1 号")
    for carrier in ("SF", "ZTO"):  # chosen from the list of carriers
        page.locator(f'#carriers input[value="{carrier}"]').check()
    page.locator("#is_default").check()
    page.get_by_role("button", name=w["save_address"]).click()
    expect(page.locator("p.flash")).to_be_visible()
    expect(page.locator("table")).to_contain_text("sh-1")
    walk.page(page, "addresses")

    with db.read() as session:
        actions = set(session.scalars(select(StaffEvent.action).where(StaffEvent.merchant_id == shop.id)))
    assert {"user.invite", "policy.publish", "template.save", "webhook.add", "address.save"} <= actions
    assert not walk.problems, walk.problems
    assert not external, external
    ctx.close()
