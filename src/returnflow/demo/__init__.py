"""Demo data: two merchants, staff of every role, products in several categories, delivered orders, and cases
in different states — all written through the same services the API uses."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlalchemy import select
from decimal import Decimal

from ..actor import Actor
from ..bootstrap import bootstrap
from ..auth.service import create_user, issue_token
from ..cases.schemas import CaseCreate, CaseLineCreate
from ..cases.service import act, open_case, get_case
from ..db import Database, utcnow
from ..logistics.models import ReturnAddress
from ..merchants.models import Merchant
from ..orders.models import Category
from ..orders.records import CustomerRecord, LineRecord, OrderRecord
from ..orders.service import upsert_orders
from ..money import to_minor

PASSWORD_ENV = "RETURNFLOW_DEMO_PASSWORD"
DEFAULT_PASSWORD = "returnflow-demo"

CATEGORIES = [  # code, 中文, English, legal attributes the policy engine reads (docs/policy.md)
    ("apparel", "服装鞋帽", "Apparel & shoes", {"checklist": ["tags attached", "unworn", "unwashed"]}),
    ("electronics", "数码家电", "Electronics", {"sanbao": True, "warranty_months": 12,
                                               "checklist": ["serial number", "CCC mark", "accessories"]}),
    ("food", "生鲜食品", "Fresh food", {"perishable": True}),
    ("personal_care", "个护美妆", "Personal care", {"one_time_seal": True, "checklist": ["seal intact"]}),
    ("custom", "定制商品", "Made to order", {"custom_made": True}),
    ("home", "家居日用", "Home", {"sanbao": True, "warranty_months": 12}),
]

PRODUCTS = [  # sku, title, category, price (CNY)
    ("TSHIRT-W-M", "纯棉白色T恤 M码", "apparel", "89.00"),
    ("TSHIRT-W-L", "纯棉白色T恤 L码", "apparel", "89.00"),
    ("SNEAKER-42", "轻跑运动鞋 42码", "apparel", "399.00"),
    ("PHONE-X1", "X1 智能手机 128GB", "electronics", "2999.00"),
    ("EARBUDS-2", "无线降噪耳机 2代", "electronics", "699.00"),
    ("KETTLE-17", "电热水壶 1.7L", "home", "159.00"),
    ("MANGO-5KG", "海南贵妃芒 5斤装", "food", "59.90"),
    ("LIPSTICK-01", "丝绒口红 #01", "personal_care", "229.00"),
    ("MUG-CUSTOM", "定制刻字马克杯", "custom", "79.00"),
]

CUSTOMERS = [
    ("C1001", "张伟", "zhangwei@example.com", "13800000001", "zh-CN"),
    ("C1002", "李娜", "lina@example.com", "13800000002", "zh-CN"),
    ("C1003", "王芳", "wangfang@example.com", "13800000003", "zh-CN"),
    ("C1004", "Emily Carter", "emily@example.com", "+447700900004", "en"),
    ("C1005", "陈杰", "chenjie@example.com", "13800000005", "zh-CN"),
]

STAFF = [  # email, name, role
    ("admin@demo.example", "管理员 Admin", "admin"),
    ("agent@demo.example", "客服 小周", "agent"),
    ("agent2@demo.example", "客服 小林", "agent"),
    ("warehouse@demo.example", "仓管 老王", "warehouse"),
    ("finance@demo.example", "财务 刘会计", "finance"),
    ("supervisor@demo.example", "主管 赵经理", "supervisor"),
]


def load(db: Database) -> dict:
    """Writes the demo data into an empty database; returns the sign-in details it created."""
    bootstrap()  # every side effect of the demo's transitions: clocks, notices, return instructions

    password = os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD)
    now = utcnow()
    with db.transaction() as session:
        if session.scalar(select(Merchant.id).where(Merchant.code == "demo")) is not None:
            return {"skipped": True}
        demo = Merchant(code="demo", name="示例旗舰店 Demo Flagship Store", default_currency="CNY",
                        default_locale="zh-CN")
        acme = Merchant(code="acme", name="Acme Outdoor (EU)", default_currency="EUR", default_locale="en")
        session.add_all([demo, acme])
        session.flush()
        # Every demo shop can take goods back: a case needing them is only approved with a return address.
        session.add_all([
            ReturnAddress(merchant_id=demo.id, code="SH", name="示例旗舰店上海退货仓", contact="王仓管",
                          phone="021-55550100", address="上海市浦东新区张江路 100 号 3 号库",
                          address_en="Warehouse 3, 100 Zhangjiang Rd, Pudong, Shanghai", postcode="201203",
                          carriers=["SF", "YTO", "ZTO"], is_default=True),
            ReturnAddress(merchant_id=acme.id, code="EU", name="Acme Outdoor Returns", contact="Returns desk",
                          phone="+49 30 555501", address="Lagerstraße 12, 10115 Berlin, Germany",
                          address_en="Lagerstraße 12, 10115 Berlin, Germany", postcode="10115",
                          carriers=["UPS"], is_default=True)])
        for code, zh, en, attributes in CATEGORIES:
            session.add(Category(merchant_id=demo.id, code=code, name_zh=zh, name_en=en, attributes=attributes))
        users = {}
        for email, name, role in STAFF:
            users[role if role not in users else email] = create_user(
                session, email=email, name=name, role=role, merchant_id=demo.id, password=password)
        create_user(session, email="staff@acme.example", name="Acme Agent", role="admin", merchant_id=acme.id,
                    password=password)
        platform = create_user(session, email="platform@demo.example", name="平台小二 Platform", role="platform",
                               merchant_id=None, password=password)
        admin_token = issue_token(session, user=users["admin"], label="demo")

        prices = {sku: (title, cat, price) for sku, title, cat, price in PRODUCTS}
        baskets = [
            ("DM20261101001", "C1001", ["TSHIRT-W-M", "SNEAKER-42"], 20),
            ("DM20261102002", "C1002", ["PHONE-X1"], 18),
            ("DM20261103003", "C1003", ["EARBUDS-2", "KETTLE-17"], 15),
            ("DM20261105004", "C1004", ["TSHIRT-W-L"], 12),
            ("DM20261106005", "C1005", ["MANGO-5KG", "LIPSTICK-01"], 10),
            ("DM20261108006", "C1001", ["MUG-CUSTOM", "KETTLE-17"], 8),
            ("DM20261110007", "C1002", ["EARBUDS-2"], 6),
            ("DM20261112008", "C1003", ["SNEAKER-42", "TSHIRT-W-M"], 4),
            ("DM20261115009", "C1004", ["PHONE-X1"], 3),
            ("DM20261120010", "C1005", ["KETTLE-17"], 1),
        ]


        orders = []
        for number, cust, skus, days_ago in baskets:
            c = next(x for x in CUSTOMERS if x[0] == cust)
            ordered = now - timedelta(days=days_ago + 3)
            lines = [LineRecord(line_no=i + 1, sku=sku, title=prices[sku][0], category=prices[sku][1],
                                unit_price=to_minor(Decimal(prices[sku][2]), "CNY"), quantity=2 if "TSHIRT" in sku else 1,
                                delivered_quantity=2 if "TSHIRT" in sku else 1) for i, sku in enumerate(skus)]
            goods = sum(line.unit_price * line.quantity for line in lines)
            orders.append(OrderRecord(
                number=number, currency="CNY",
                customer=CustomerRecord(external_id=c[0], name=c[1], email=c[2], phone=c[3], locale=c[4],
                                        country="GB" if c[4] == "en" else "CN"),
                shipping_fee=0, paid_total=goods, payments=[{"method": "alipay", "amount": goods}],
                country="CN", ordered_at=ordered, shipped_at=ordered + timedelta(days=1),
                delivered_at=ordered + timedelta(days=3), signed_at=ordered + timedelta(days=3), lines=lines))
        upsert_orders(session, merchant_id=demo.id, orders=orders)
        upsert_orders(session, merchant_id=acme.id, orders=[OrderRecord(
            number="ACME-1001", currency="EUR",
            customer=CustomerRecord(external_id="E-77", name="Jonas Weber", email="jonas@example.com", locale="en"),
            ordered_at=now - timedelta(days=9), delivered_at=now - timedelta(days=6),
            lines=[LineRecord(line_no=1, sku="TENT-2P", title="Two-person tent", category="outdoor",
                              unit_price=24900, quantity=1, delivered_quantity=1)])])

    agent = Actor(kind="staff", role="agent", merchant_id=demo.id, user_id=users["agent"].id, name="客服 小周")
    warehouse = Actor(kind="staff", role="warehouse", merchant_id=demo.id, user_id=users["warehouse"].id,
                      name="仓管 老王")
    finance = Actor(kind="staff", role="finance", merchant_id=demo.id, user_id=users["finance"].id, name="财务 刘会计")

    def new(order, type_, lines, reason, channel="portal", text="", **kw):
        with db.transaction() as session:
            case = open_case(session, actor=agent, data=CaseCreate(
                order=order, type=type_, channel=channel, reason=reason, description=text,
                lines=[CaseLineCreate(line_no=n, quantity=q) for n, q in lines], **kw))
            return case.number

    supervisor = Actor(kind="staff", role="supervisor", merchant_id=demo.id, user_id=users["supervisor"].id,
                       name="主管 赵经理")

    def run(number, *steps):
        for action, actor, payload in steps:
            with db.transaction() as session:
                case = get_case(session, actor=actor, number=number)
                if action == "approve":
                    if case.state not in ("pending_review", "pending_approval"):
                        continue  # the policy approved it when it was opened
                    if case.state == "pending_approval":
                        actor = supervisor
                    if case.policy_decision and not case.policy_decision.get("within_policy"):
                        payload = {**payload, "override_reason": "超出政策范围，主管同意按质量问题处理 / "
                                                                 "outside the policy, approved as a quality case"}
                act(session, actor=actor, number=number, action=action, version=case.version, payload=payload)

    ship = {"carrier": "SF", "tracking_number": "SF1234567890123"}
    n1 = new("DM20261101001", "return_refund", [(1, 1)], "wrong_size", text="尺码偏小，想退一件")
    n2 = new("DM20261102002", "return_refund", [(1, 1)], "quality_issue", channel="hotline",
             text="屏幕有坏点 / dead pixels on the screen", desired_outcome="refund")
    run(n2, ("approve", agent, {}))
    n3 = new("DM20261103003", "exchange", [(1, 1)], "defect_after_use", channel="app", text="左耳无声音",
             desired_outcome="exchange")
    run(n3, ("approve", agent, {}), ("ship_return", agent, ship))
    n4 = new("DM20261105004", "return_refund", [(1, 2)], "no_reason_7day", channel="email",
             text="Changed my mind, both unworn")
    run(n4, ("approve", agent, {}), ("ship_return", agent, {"carrier": "YTO", "tracking_number": "YT8800112233"}),
        ("receive", warehouse, {}), ("inspect", warehouse, {}))
    n5 = new("DM20261106005", "refund_only", [(1, 1)], "damaged_in_transit", channel="wechat",
             text="芒果到货时已压坏，附照片", desired_outcome="refund")
    run(n5, ("approve", agent, {}), ("resolve", finance, {"note": "全额退款 59.90"}))
    n6 = new("DM20261108006", "return_refund", [(1, 1)], "changed_mind", text="定制杯子不想要了")
    run(n6, ("reject", agent, {"reason": "定制商品不支持七天无理由退货（《消费者权益保护法》第二十五条）"}))
    n7 = new("DM20261110007", "repair", [(1, 1)], "defect_after_use", channel="hotline", text="充电仓无法充电")
    run(n7, ("approve", agent, {}), ("ship_return", agent, {"carrier": "ZTO", "tracking_number": "ZT55667788"}),
        ("receive", warehouse, {}), ("inspect", warehouse, {}), ("start_repair", warehouse, {}))
    n8 = new("DM20261112008", "exchange", [(1, 1)], "wrong_size", channel="app", text="先发42.5码", advance=True)
    run(n8, ("approve", agent, {}), ("ship_replacement", warehouse, {"carrier": "SF", "tracking_number": "SF9988776655"}))
    n9 = new("DM20261115009", "inquiry", [], "invoice_issue", channel="chat", text="请开具增值税专用发票")
    n10 = new("DM20261120010", "return_refund", [(1, 1)], "quality_issue", text="漏水")
    run(n10, ("approve", agent, {}), ("ship_return", agent, {"carrier": "SF", "tracking_number": "SF1122334455"}),
        ("receive", warehouse, {}), ("inspect", warehouse, {}), ("resolve", finance, {}), ("close", agent, {}))
    return {"password": password, "admin_token": admin_token, "users": [s[0] for s in STAFF] +
            ["staff@acme.example", platform.email], "cases": [n1, n2, n3, n4, n5, n6, n7, n8, n9, n10]}
