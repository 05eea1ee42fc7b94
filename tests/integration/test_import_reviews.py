"""Reviews through `returnflow import-reviews` and the reports' definitions through the API and the CLI, on SQLite
and PostgreSQL: a cancelled order is no sale, a return is valued at what was credited, reviews are imported once
and compare the buyers who returned with all buyers; a bad cell stops the import before anything is written.

The reviews' texts are real (tests/data/reviews_online_shopping_sample.csv, see tests/data/SOURCE.md); the orders,
days and the ratings (the data set's label 1 = positive is read as 5 stars, 0 as 1 star) are given here.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from returnflow.analytics.records import Review
from tests.support.import_cli import run_cli, written  # noqa: F401 - run_cli is a fixture
from tests.support.world import make_shop

DATA = Path(__file__).resolve().parents[1] / "data"
EXPORTS = DATA / "exports"
RETURNED, SHIPPED, CANCELLED = "3301234567890123", "3301234567890789", "3301234567890456"
# Case 1001 returns 2 x TS-WHITE-L (59.00) and 1 x BAG-CANVAS (39.00) of the first order: 110.00 was credited.
HISTORY = "\n".join([
    "case_id,order,type,state,opened_at,closed_at,outcome,refund_amount,currency,sku,quantity",
    f"1001,{RETURNED},return_refund,closed,2024-03-05 09:00:00,2024-03-12 18:00:00,resolved,110.00,CNY,"
    "TS-WHITE-L,2",
    "1001,,,,,,,,,BAG-CANVAS,1",
    f"1002,{SHIPPED},return_refund,rejected,2024-03-10 10:00:00,,,,,TS-WHITE-L,1",
]) + "\n"
MARCH = {"from": "2024-03-01", "to": "2024-03-31", "merchant": "tb"}


def texts() -> dict[str, list[str]]:
    """The sample's clothing reviews, positive and negative."""
    with open(DATA / "reviews_online_shopping_sample.csv", encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["cat"] == "衣服"]
    return {"5": [r["review"] for r in rows if r["label"] == "1"],
            "1": [r["review"] for r in rows if r["label"] == "0"]}


def reviews_csv(path: Path, *, bad_rating: str | None = None) -> Path:
    t = texts()
    rows = [
        ["review_id", "order", "sku", "rating", "text", "reviewed_at"],
        ["", RETURNED, "TS-WHITE-L", "1", t["1"][0], "2024-03-04 20:00:00"],  # the buyer who returned
        ["", SHIPPED, "TS-WHITE-L", "5", t["5"][0], "2024-03-06"],  # asked, was refused: no return
        ["", CANCELLED, "CUP-500", bad_rating or "5", t["5"][1], "2024-03-07 08:00:00"],
        ["JD-889", "", "", "1", t["1"][1], "2024-03-08T12:00:00+08:00"],  # no order: among all buyers only
    ]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture
def shop(db, run_cli, tmp_path):
    shop = make_shop(db, "tb")
    code, out = run_cli("import-orders", EXPORTS / "taobao_orders_sample.csv", "--mapping", "taobao",
                        "--merchant", "tb")
    assert code == 0, out
    history = tmp_path / "history.csv"
    history.write_text(HISTORY, encoding="utf-8")
    code, out = run_cli("import-cases", history, "--merchant", "tb")
    assert code == 0, out
    return shop


def api(client, shop, name: str, **params) -> dict:
    answer = client.get(f"/api/v1/analytics/reports/{name}", headers=shop.headers("supervisor"),
                        params={**MARCH, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def count_reviews(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Review))


def test_sales_exclude_cancelled_orders_and_returns_are_valued_at_what_was_credited(client, shop, run_cli):
    body = api(client, shop, "return_rate", by="sku")
    rows = {r["key"]: r for r in body["rows"]}
    assert set(rows) == {"TS-WHITE-L", "BAG-CANVAS"}  # the cancelled order's CUP-500 was never sold
    # 110.00 credited for the case, shared by purchase value (118.00 and 39.00): 82.67 and 27.33, adding up.
    assert [(rows[k]["units_sold"], rows[k]["value_sold"], rows[k]["units_returned"], rows[k]["value_returned"],
             rows[k]["value_at_price"]) for k in ("TS-WHITE-L", "BAG-CANVAS")] == [
        (3, "177.00", 2, "82.67", "0.00"), (1, "39.00", 1, "27.33", "0.00")]
    assert body["totals"]["by_currency"]["CNY"] == {"value_sold": "216.00", "value_returned": "110.00",
                                                    "value_rate": "50.93", "value_at_price": "0.00"}
    assert body["unmatched"] == {"lines": 0, "units": 0, "by_currency": {}, "rows": []}
    assert "cancelled" in body["definition"]["en"] and "未取消" in body["definition"]["zh-CN"]
    # The CLI prints the same figures.
    code, out = run_cli("report", "return_rate", "--merchant", "tb", "--from", "2024-03-01", "--to", "2024-03-31",
                        "--by", "sku", "--format", "json")
    assert code == 0, out
    printed = {r["key"]: r["value_returned"] for r in json.loads(out)["rows"]}
    assert printed == {"TS-WHITE-L": "82.67", "BAG-CANVAS": "27.33"}


def test_reviews_compare_the_buyers_who_returned_with_all_buyers_once_however_often_imported(
        db, client, shop, run_cli, tmp_path):
    file = reviews_csv(tmp_path / "reviews.csv")
    code, out = run_cli("import-reviews", file, "--merchant", "tb")
    assert code == 0, out
    assert "4 reviews imported, 0 updated" in out and "1 name no order" in out
    code, out = run_cli("import-reviews", file, "--merchant", "tb", lang="zh_CN.UTF-8")
    assert code == 0, out
    assert "已导入 0 条评价，更新 4 条" in out
    assert count_reviews(db) == 4

    body = api(client, shop, "satisfaction")
    got = {r["key"]: r for r in body["rows"] if r["dimension"] == "reviews"}
    assert [(k, got[k]["responses"], got[k]["avg_score"], got[k]["satisfied"]) for k in got] == [
        ("all_buyers", 4, "3.00", "50.00"), ("returned", 1, "1.00", "0.00"), ("not_returned", 2, "5.00", "100.00")]
    assert got["returned"]["comments"][0]["comment"] == texts()["1"][0]
    assert body["totals"]["reviews"]["returned"] == {"responses": 1, "avg_score": "1.00", "satisfied": "0.00"}
    # A month without reviews has none.
    assert api(client, shop, "satisfaction", **{"from": "2024-04-01", "to": "2024-04-30"})["totals"]["reviews"][
        "all_buyers"]["responses"] == 0

    # JSON lines, keyed by the review id: a second import updates the rating instead of adding a review.
    jsonl = tmp_path / "reviews.jsonl"
    jsonl.write_text(json.dumps({"review_id": "JD-889", "rating": 4, "text": texts()["5"][2],
                                 "reviewed_at": "2024-03-08T12:00:00+08:00"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    code, out = run_cli("import-reviews", jsonl, "--merchant", "tb")
    assert code == 0, out
    assert count_reviews(db) == 4
    all_buyers = api(client, shop, "satisfaction")["totals"]["reviews"]["all_buyers"]
    assert (all_buyers["avg_score"], all_buyers["satisfied"]) == ("3.75", "75.00")

    # The console's satisfaction tile names the groups in the reader's words.
    from tests.support.asgi import TestClient

    from tests.support.portal import sign_in_staff

    for locale, words in (("en", ("All buyers who reviewed", "Buyers who returned")),
                          ("zh-CN", ("全部评价买家", "退过货的买家"))):
        web = TestClient(client.app, headers={"Accept-Language": locale})
        sign_in_staff(web, "supervisor@tb.test", "pw-supervisor")
        page = web.get("/staff/analytics", params={"from": "2024-03-01", "to": "2024-03-31"})
        assert page.status_code == 200, page.text
        assert all(w in page.text for w in words), locale
        assert "not_returned" not in page.text and "all_buyers" not in page.text


@pytest.mark.parametrize(("lang", "words"), [
    ("en_GB.UTF-8", "row 4, column rating, value '6': not a rating: give a whole number from 1 to 5"),
    ("zh_CN.UTF-8", "第 4 行，列「rating」，值 '6'：不是有效评分：请填写 1 到 5 的整数"),
], ids=["en", "zh-CN"])
def test_a_bad_rating_stops_the_import_naming_row_column_and_value(db, shop, run_cli, tmp_path, lang, words):
    before = written(db)
    code, out = run_cli("import-reviews", reviews_csv(tmp_path / "bad.csv", bad_rating="6"), "--merchant", "tb",
                        lang=lang)
    assert code == 2
    assert words in " ".join(out.split())
    assert count_reviews(db) == 0  # the good rows before it were not written either
    assert written(db) == before


def test_unknown_merchant_and_missing_rating_column_are_refused(db, shop, run_cli, tmp_path):
    file = tmp_path / "r.csv"
    file.write_text("order,text,reviewed_at\n1,good,2024-03-01\n", encoding="utf-8")
    code, out = run_cli("import-reviews", file, "--merchant", "tb")
    assert code == 2 and "no such column" in out
    code, out = run_cli("import-reviews", reviews_csv(tmp_path / "ok.csv"), "--merchant", "nobody")
    assert code == 2 and "no merchant nobody" in out
    assert count_reviews(db) == 0
