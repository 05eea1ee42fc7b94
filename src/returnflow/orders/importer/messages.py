"""What the importers tell the operator, in the operator's language (zh-CN or en, from --lang or LANG).

Like the API's messages (i18n.MESSAGES) each text is kept here in both languages with `{name}` placeholders, so
a terminal without the pages' catalogs still reads its own language.
"""

from __future__ import annotations

import os

LANGS = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "stopped": {"en": "Nothing was imported: fix the file or the mapping and run the import again.",
                "zh-CN": "未导入任何数据：请修正文件或映射文件后重新导入。"},
    "where": {"en": "row {row}, column {column}, value {value}: ", "zh-CN": "第 {row} 行，列「{column}」，值 {value}："},
    "missing_column": {"en": "the mapping reads {field} from the column {column}, but the file has no such column "
                              "(its columns: {columns})",
                       "zh-CN": "映射文件从列「{column}」读取 {field}，但文件中没有这一列（文件的列：{columns}）"},
    "unknown_encoding": {"en": "encoding: {value} is not an encoding this import reads; use auto, utf-8, gbk or "
                                "gb18030",
                         "zh-CN": "编码：无法识别「{value}」；请使用 auto、utf-8、gbk 或 gb18030"},
    "undecodable": {"en": "the file is not {encoding} text (at byte {position}); name its encoding with --encoding",
                    "zh-CN": "文件不是 {encoding} 编码的文本（第 {position} 字节处）；请用 --encoding 指定文件编码"},
    "bad_date": {"en": "not a date in the format {formats}", "zh-CN": "不符合日期格式 {formats}"},
    "unmapped_status": {"en": "this order status is not in the mapping's [status] table (it has: {known})",
                        "zh-CN": "该订单状态不在映射文件的 [status] 表中（表中有：{known}）"},
    "foreign_currency": {"en": "merchant {merchant} does not trade in this currency (it uses {currencies})",
                         "zh-CN": "商家 {merchant} 不使用该币种（其币种为 {currencies}）"},
    "unknown_currency": {"en": "not a currency code such as CNY or GBP", "zh-CN": "不是 CNY、GBP 这样的币种代码"},
    "bad_number": {"en": "not an amount such as 12.50", "zh-CN": "不是 12.50 这样的金额"},
    "bad_quantity": {"en": "not a whole number", "zh-CN": "不是整数"},
    "missing_value": {"en": "empty, but {field} is needed", "zh-CN": "为空，但 {field} 为必填项"},
    "no_mapping": {"en": "--mapping: {value} is neither a mapping file nor a shipped mapping ({shipped})",
                   "zh-CN": "--mapping：「{value}」既不是映射文件，也不是内置映射（内置：{shipped}）"},
    "bad_mapping": {"en": "mapping {name}: {problem}", "zh-CN": "映射文件 {name}：{problem}"},
    "empty_file": {"en": "the file has no header row", "zh-CN": "文件没有表头行"},
    "unreadable": {"en": "the file cannot be read: {problem}", "zh-CN": "无法读取文件：{problem}"},
    "no_merchant": {"en": "--merchant: no merchant {value} (add --create-merchant to create it)",
                    "zh-CN": "--merchant：没有商家「{value}」（加 --create-merchant 可新建）"},
    "unknown_merchant": {"en": "--merchant: no merchant {value}; import its orders first",
                         "zh-CN": "--merchant：没有商家「{value}」；请先导入其订单"},
    "read_as": {"en": "read as {encoding}, {layout}; times without an offset in {zone}",
                "zh-CN": "按 {encoding} 读取，格式 {layout}；未带时区的时间按 {zone} 理解"},
    # History (cases) import.
    "history_done": {"en": "{inserted} cases imported, {kept} already there (same case id), from {rows} rows",
                     "zh-CN": "已导入 {inserted} 个售后单，{kept} 个已存在（相同的售后单编号），共读取 {rows} 行"},
    "no_order": {"en": "merchant {merchant} has no order {value}; import the orders first",
                 "zh-CN": "商家 {merchant} 没有订单 {value}；请先导入订单"},
    "no_order_line": {"en": "order {order} has no line with SKU or line number {value}",
                      "zh-CN": "订单 {order} 中没有 SKU 或行号为 {value} 的商品行"},
    "bad_state": {"en": "not a case state; allowed: {allowed}", "zh-CN": "不是有效的售后单状态；可选：{allowed}"},
    "bad_type": {"en": "not a case type; allowed: {allowed}", "zh-CN": "不是有效的售后类型；可选：{allowed}"},
    "bad_reason": {"en": "not a reason of this merchant; allowed: {allowed}",
                   "zh-CN": "不是本商家的售后原因；可选：{allowed}"},
    "bad_json": {"en": "not valid JSON: {problem}", "zh-CN": "不是有效的 JSON：{problem}"},
    "closed_before_opened": {"en": "closed before it was opened ({opened})", "zh-CN": "关闭时间早于创建时间（{opened}）"},
    "refused": {"en": "{problem}", "zh-CN": "{problem}"},
    "wrong_currency": {"en": "the order is in {expected}", "zh-CN": "订单币种为 {expected}"},
    # Reviews import.
    "reviews_done": {"en": "{inserted} reviews imported, {updated} updated (same review), from {rows} reviews; "
                           "{without_order} name no order of this merchant (counted among all buyers only)",
                     "zh-CN": "已导入 {inserted} 条评价，更新 {updated} 条（同一评价），共 {rows} 条；其中 {without_order} "
                              "条没有对应本商家的订单（仅计入全部买家）"},
    "bad_rating": {"en": "not a rating: give a whole number from 1 to 5", "zh-CN": "不是有效评分：请填写 1 到 5 的整数"},
    "too_long": {"en": "longer than {limit} characters", "zh-CN": "超过 {limit} 个字符"},
    "conflicting_rows": {"en": "case {value} is in the file twice with different orders",
                         "zh-CN": "售后单 {value} 在文件中出现两次且订单不同"},
}


def lang_of(option: str | None = None) -> str:
    """--lang if given, else LC_ALL / LC_MESSAGES / LANG (zh_CN.UTF-8 -> zh-CN); English otherwise."""
    value = option or os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh-CN" if value.lower().replace("_", "-").startswith("zh") else "en"


def say(key: str, lang: str, **params: object) -> str:
    texts = MESSAGES[key]
    return texts.get(lang, texts["en"]).format(**params)


class Problem(Exception):
    """Input the import cannot take: nothing is written. Says where (row, column, value) when it is one cell."""

    def __init__(self, key: str, *, row: int | None = None, column: str | None = None, value: object = None,
                 **params: object) -> None:
        super().__init__(key)
        self.key, self.row, self.column, self.value, self.params = key, row, column, value, params

    def text(self, lang: str) -> str:
        where = ""
        if self.row is not None:
            where = say("where", lang, row=self.row, column=self.column, value=repr(self.value))
        params = {"value": self.value, "column": self.column,
                  **{k: v.get(lang, v.get("en")) if isinstance(v, dict) else v for k, v in self.params.items()}}
        return where + say(self.key, lang, **params)

    def __str__(self) -> str:
        return self.text("en")
