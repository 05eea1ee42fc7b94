"""Any order export through a mapping file, via `returnflow import-orders FILE --mapping ...`, on SQLite and
PostgreSQL: the shipped mappings' sample exports, GBK and XLSX files, statuses and line kinds, and every kind of
bad input stopping the import before anything is written, in the operator's language."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from returnflow.merchants.models import Merchant
from returnflow.orders.models import Customer, Order
from tests.support.import_cli import run_cli, written  # noqa: F401 - run_cli is a fixture
from tests.support.world import make_shop

DATA = Path(__file__).resolve().parents[1] / "data"
EXPORTS = DATA / "exports"
UTC = timezone.utc


def orders_of(db, code: str) -> dict[str, Order]:
    with db.read() as session:
        merchant_id = session.scalar(select(Merchant.id).where(Merchant.code == code))
        orders = session.scalars(select(Order).where(Order.merchant_id == merchant_id)).all()
        for order in orders:
            order.lines  # noqa: B018 - loaded inside the session
        return {o.number: o for o in orders}


def test_taobao_gbk_export_imports_with_statuses_zone_and_amounts(db, run_cli):
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb", "--create-merchant")
    assert code == 0, out
    assert "GB18030/GBK" in out and "Asia/Shanghai" in out  # the encoding was detected, the zone stated
    orders = orders_of(db, "tb")
    assert set(orders) == {"3301234567890123", "3301234567890456", "3301234567890789"}  # ="…" unwrapped
    first = orders["3301234567890123"]
    assert first.status == "completed" and first.sales_channel == "taobao" and first.currency == "CNY"
    assert [(li.sku, li.title, li.unit_price, li.quantity, li.kind) for li in first.lines] == [
        ("TS-WHITE-L", "纯棉T恤 白色 L", 5900, 2, "product"), ("BAG-CANVAS", "帆布包 米色", 3900, 1, "product")]
    assert (first.goods_total, first.paid_total) == (15700, 15700)
    # 2024-03-01 10:23:45 in Shanghai, not in UTC
    assert first.ordered_at == datetime(2024, 3, 1, 2, 23, 45, tzinfo=UTC)
    assert orders["3301234567890456"].status == "cancelled"
    assert orders["3301234567890789"].status == "shipped"
    with db.read() as session:
        assert session.scalar(select(Customer.external_id).where(Customer.id == first.customer_id)) == "t**1"


def test_jd_pinduoduo_and_douyin_samples(db, run_cli):
    for name, code in (("jd", "jd"), ("pinduoduo", "pdd"), ("douyin", "dy")):
        exit_code, out = run_cli("import-orders", EXPORTS / f"{name}_orders_sample.csv", "--mapping", name,
                                 "--merchant", code, "--create-merchant")
        assert exit_code == 0, out
    jd = orders_of(db, "jd")
    assert {n: o.status for n, o in jd.items()} == {"281234567890": "completed", "281234567891": "cancelled"}
    # 货号 first, 商品ID where 货号 is empty
    assert [li.sku for li in jd["281234567890"].lines] == ["MI-BAND8-BK", "100098765432"]
    assert jd["281234567890"].signed_at == datetime(2024, 5, 13, 10, 20, tzinfo=UTC)
    pdd = orders_of(db, "pdd")
    pods = pdd["240601-123456789012346"]
    # 商品总价 100.00 for 3 does not divide: 33.34 each, the cent over is a line discount; paid as exported
    assert (pods.status, pods.lines[0].unit_price, pods.lines[0].quantity, pods.lines[0].discount,
            pods.lines[0].paid_amount, pods.paid_total) == ("paid", 3334, 3, 2, 10000, 10000)
    assert pods.lines[0].sku == "POD-52"
    tissue = pdd["240601-123456789012345"]
    assert (tissue.discount, tissue.paid_total, tissue.status) == (200, 2690, "completed")
    assert pdd["240602-123456789012347"].status == "cancelled"
    dy = orders_of(db, "dy")
    ear = dy["6921234567890123456"]
    assert [(li.sku, li.unit_price, li.quantity) for li in ear.lines] == [("EAR-PRO-W", 19900, 1),
                                                                       ("CASE-CLR", 1500, 2)]
    assert ear.ordered_at == datetime(2024, 7, 1, 12, 15, 30, tzinfo=UTC)
    assert dy["6921234567890123999"].status == "cancelled"


def test_shopify_sample_reads_offsets_currency_and_cancellation(db, run_cli):
    make_shop(db, "us", currency="USD")
    code, out = run_cli("import-orders", EXPORTS / "shopify_orders_sample.csv", "--mapping", "shopify",
                        "--merchant", "us")
    assert code == 0, out
    orders = orders_of(db, "us")
    ann = orders["#1001"]
    assert ann.ordered_at == datetime(2024, 3, 1, 15, 23, 45, tzinfo=UTC)  # -0500 from the file, not a zone
    assert (ann.currency, ann.status, ann.goods_total, ann.discount, ann.shipping_fee, ann.paid_total) == (
        "USD", "paid", 6000, 500, 500, 6000)
    assert [li.sku for li in ann.lines] == ["LS-M", "SOCK-1"]  # the second row inherits the order's currency
    assert orders["#1002"].status == "cancelled"  # voided, and Cancelled at is filled


def test_xlsx_generated_here_with_a_mapping_file_line_kinds_and_date_cells(db, run_cli, tmp_path):
    make_shop(db, "xl")
    book = Workbook()
    sheet = book.active
    sheet.append(["单号", "下单时间", "状态", "编码", "名称", "单价", "数量", "类型"])
    sheet.append([1234567890123, datetime(2024, 9, 1, 20, 0), "已完成", "A-1", "杯子", 12.5, 2, "商品"])
    sheet.append([1234567890123, datetime(2024, 9, 1, 20, 0), "已完成", "SHIP", "运费", 8, 1, "运费"])
    sheet.append([1234567890124, "2024-09-02 08:00", "已取消", "A-1", "杯子", 12.5, 1, "商品"])
    book.save(tmp_path / "orders.xlsx")
    (tmp_path / "mine.toml").write_text('''
name = "my back office"
time_zone = "Asia/Shanghai"
date_formats = ["%Y-%m-%d %H:%M"]
[columns]
order_number = "单号"
ordered_at = "下单时间"
status = "状态"
sku = "编码"
title = "名称"
unit_price = "单价"
quantity = "数量"
kind = "类型"
[status]
"已完成" = "completed"
"已取消" = "cancelled"
[kind]
"运费" = "shipping"
''', encoding="utf-8")
    code, out = run_cli("import-orders", tmp_path / "orders.xlsx", "--mapping", tmp_path / "mine.toml",
                        "--merchant", "xl")
    assert code == 0, out
    orders = orders_of(db, "xl")
    cup = orders["1234567890123"]  # a number cell, not 1234567890123.0
    assert [(li.sku, li.kind, li.unit_price) for li in cup.lines] == [("A-1", "product", 1250),
                                                                     ("SHIP", "shipping", 800)]
    assert cup.goods_total == 2500  # products only; the shipping line is paid, not a sale
    assert cup.paid_total == 3300
    assert cup.ordered_at == datetime(2024, 9, 1, 12, 0, tzinfo=UTC)  # a date cell, read in the mapping's zone
    assert orders["1234567890124"].status == "cancelled"


def test_gbk_named_or_detected_and_a_wrong_encoding_writes_nothing(db, run_cli):
    make_shop(db, "tb")
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb", "--encoding", "utf-8")
    assert code == 2 and "is not UTF-8 text" in out and "Nothing was imported" in out
    assert written(db)["orders"] == 0
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb", "--encoding", "klingon")
    assert code == 2 and "encoding: klingon is not an encoding" in out
    assert written(db)["orders"] == 0
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb", "--encoding", "gbk")
    assert code == 0 and len(orders_of(db, "tb")) == 3


def test_uci_mapping_matches_the_built_in_layout_and_marks_postage(db, run_cli):
    sample = DATA / "uci_online_retail_sample.csv"
    code, out = run_cli("import-orders", sample, "--format", "uci", "--merchant", "builtin", "--create-merchant",
                        "--no-open-returns")
    assert code in (0, 1), out
    code, out = run_cli("import-orders", sample, "--mapping", "uci", "--merchant", "mapped", "--create-merchant",
                        "--currency", "GBP", "--no-open-returns")
    assert code in (0, 1), out
    builtin, mapped = orders_of(db, "builtin"), orders_of(db, "mapped")
    assert builtin and set(builtin) <= set(mapped)
    # The built-in layout refuses UCI's "Adjust bad debt" invoices (a negative price); the mapping keeps them as
    # adjustment lines, which are no sale.
    extra = {number: mapped[number] for number in set(mapped) - set(builtin)}
    assert extra and all(number.startswith("A") and [li.kind for li in o.lines] == ["adjustment"]
                         for number, o in extra.items())
    assert all(o.goods_total == 0 for o in extra.values())
    for number, order in builtin.items():
        other = mapped[number]
        assert (other.ordered_at, other.currency, other.paid_total) == (order.ordered_at, order.currency,
                                                                        order.paid_total)
        assert [(li.sku, li.unit_price, li.quantity) for li in other.lines] == [
            (li.sku, li.unit_price, li.quantity) for li in order.lines]
    kinds = {li.sku: li.kind for o in mapped.values() for li in o.lines}
    assert kinds.get("POST") == "shipping" and kinds["85123A"] == "product"


def _stopped(db, out: str, *parts: str) -> None:
    for part in parts:
        assert part in out, out
    assert "Nothing was imported" in out or "未导入任何数据" in out
    counts = written(db)
    assert (counts["orders"], counts["lines"], counts["customers"], counts["products"]) == (0, 0, 0, 0)


def _variant(tmp_path: Path, name: str, old: str, new: str, encoding: str = "gbk") -> Path:
    text = (EXPORTS / "taobao_orders_sample.csv").read_bytes().decode("gbk")
    assert old in text
    path = tmp_path / name
    path.write_bytes(text.replace(old, new, 1).encode(encoding))
    return path


def test_bad_input_stops_before_writing_and_names_row_column_value(db, run_cli, tmp_path):
    # A new merchant is not created by an import that fails.
    late_date = _variant(tmp_path, "date.csv", "2024-03-03 08:00:00", "2024/13/45 25:00")
    code, out = run_cli("import-orders", late_date, "--mapping", "taobao", "--merchant", "new-shop",
                        "--create-merchant")
    assert code == 2
    _stopped(db, out, "row 5", "column 订单创建时间", "'2024/13/45 25:00'", "not a date in the format")
    assert written(db)["merchants"] == 0

    make_shop(db, "tb")
    status = _variant(tmp_path, "status.csv", "交易关闭", "退款中")
    code, out = run_cli("import-orders", status, "--mapping", "taobao", "--merchant", "tb")
    assert code == 2
    _stopped(db, out, "row 4", "column 订单状态", "'退款中'", "not in the mapping's [status] table")

    missing = tmp_path / "missing.toml"
    missing.write_text((Path(__file__).resolve().parents[2] / "src" / "returnflow" / "importer"
                        / "mappings" / "taobao.toml").read_text(encoding="utf-8")
                       .replace('quantity = "购买数量"', 'quantity = "宝贝数量"'), encoding="utf-8")
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", missing,
                        "--merchant", "tb")
    assert code == 2
    _stopped(db, out, "reads quantity from the column 宝贝数量", "the file has no such column")


def test_a_currency_the_merchant_does_not_use_stops_the_import(db, run_cli, tmp_path):
    make_shop(db, "us", currency="USD")
    text = (EXPORTS / "shopify_orders_sample.csv").read_text(encoding="utf-8")
    path = tmp_path / "eur.csv"
    path.write_text(text.replace(",USD,25.00", ",EUR,25.00"), encoding="utf-8")
    errors = tmp_path / "errors.csv"
    code, out = run_cli("import-orders", path, "--mapping", "shopify", "--merchant", "us", "--errors-file", errors)
    assert code == 2
    _stopped(db, out, "row 4", "column Currency", "'EUR'", "merchant us does not trade in this currency (it uses "
                                                           "USD)")
    assert "row 4" in errors.read_text(encoding="utf-8")  # --errors-file keeps the reason


def test_the_operator_reads_problems_in_chinese(db, run_cli, tmp_path):
    make_shop(db, "tb")
    status = _variant(tmp_path, "status.csv", "交易关闭", "退款中")
    code, out = run_cli("import-orders", status, "--mapping", "taobao", "--merchant", "tb", lang="zh_CN.UTF-8")
    assert code == 2
    _stopped(db, out, "第 4 行，列「订单状态」，值 '退款中'：该订单状态不在映射文件的 [status] 表中")
    code, out = run_cli("import-orders", status, "--mapping", "taobao", "--merchant", "tb", "--lang", "en",
                        lang="zh_CN.UTF-8")
    assert "row 4, column 订单状态" in out  # --lang wins over LANG


def test_unknown_mapping_and_built_in_failure_leave_no_merchant(db, run_cli, tmp_path):
    code, out = run_cli("import-orders", EXPORTS / "jd_orders_sample.csv", "--mapping", "amazon",
                        "--merchant", "x", "--create-merchant")
    assert code == 2 and "neither a mapping file nor a shipped mapping" in out and "taobao" in out
    bad = tmp_path / "plain.csv"
    bad.write_text("order_number,sku\nA-1,X\n", encoding="utf-8")  # no unit_price or quantity column
    code, out = run_cli("import-orders", bad, "--format", "csv", "--merchant", "x", "--create-merchant")
    assert code == 2 and "lacks the column" in out
    assert written(db)["merchants"] == 0  # before this change the failing import still created it


def test_uci_mapping_opens_the_c_invoices_as_returns_like_the_built_in_layout(db, run_cli):
    from returnflow.cases.models import Case

    sample = DATA / "uci_online_retail_sample.csv"
    for args in (("--format", "uci", "--merchant", "builtin"), ("--mapping", "uci", "--merchant", "mapped")):
        code, out = run_cli("import-orders", sample, *args, "--create-merchant", "--currency", "GBP")
        assert code in (0, 1), out
    with db.read() as session:
        refs = {code: sorted(session.scalars(select(Case.external_ref).join(Merchant, Merchant.id == Case.merchant_id)
                                             .where(Merchant.code == code)))
                for code in ("builtin", "mapped")}
    assert refs["mapped"] and refs["mapped"] == refs["builtin"]
    assert all(ref.startswith("C") for ref in refs["mapped"])


def test_bad_data_in_one_order_refuses_that_order_only(db, run_cli, tmp_path):
    make_shop(db, "us", currency="USD")
    text = (EXPORTS / "shopify_orders_sample.csv").read_text(encoding="utf-8")
    path = tmp_path / "qty.csv"
    path.write_text(text.replace("-0500,1,Linen Shirt - M", "-0500,one,Linen Shirt - M"), encoding="utf-8")
    errors = tmp_path / "refused.csv"
    code, out = run_cli("import-orders", path, "--mapping", "shopify", "--merchant", "us", "--errors-file", errors)
    assert code == 1, out
    assert set(orders_of(db, "us")) == {"#1001"}
    assert "Lineitem quantity: 'one' is not a whole number" in errors.read_text(encoding="utf-8")


def test_gb18030_and_gbk_exports_are_detected(db, run_cli, tmp_path):
    jd = (EXPORTS / "jd_orders_sample.csv").read_text(encoding="utf-8-sig").replace("表带 蓝色", "表带 𠮷祥 蓝色")
    (tmp_path / "jd.csv").write_bytes(jd.encode("gb18030"))  # 𠮷 is beyond GBK: four bytes in GB18030
    dy = (EXPORTS / "douyin_orders_sample.csv").read_text(encoding="utf-8-sig")
    (tmp_path / "dy.csv").write_bytes(dy.encode("gbk"))
    for name, file in (("jd", tmp_path / "jd.csv"), ("douyin", tmp_path / "dy.csv")):
        code, out = run_cli("import-orders", file, "--mapping", name, "--merchant", name, "--create-merchant")
        assert code == 0 and "GB18030/GBK" in out, out
    assert [li.title for li in orders_of(db, "jd")["281234567890"].lines] == ["小米手环8 黑色", "表带 𠮷祥 蓝色"]
    assert orders_of(db, "douyin")["6921234567890123456"].lines[0].title == "蓝牙耳机 Pro"
