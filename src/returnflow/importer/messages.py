"""What the importers tell the operator, in the operator's language (from --lang or LC_ALL / LC_MESSAGES / LANG,
any language of the catalogs: zh_TW.UTF-8 reads zh-Hant).

Like the API's messages (texts/errors.py MESSAGES) each text is an English msgid of the catalogs with `{name}`
placeholders; the catalogs translate it.
"""

from __future__ import annotations


from ..i18n import N_, gettext, pick

MESSAGES: dict[str, str] = {
    "stopped": N_("Nothing was imported: fix the file or the mapping and run the import again."),
    "where": N_("row {row}, column {column}, value {value}: "),
    "missing_column": N_("the mapping reads {field} from the column {column}, but the file has no such column "
                         "(its columns: {columns})"),
    "unknown_encoding": N_("encoding: {value} is not an encoding this import reads; use auto, utf-8, gbk or "
                           "gb18030"),
    "undecodable": N_("the file is not {encoding} text (at byte {position}); name its encoding with "
                      "--encoding"),
    "bad_date": N_("not a date in the format {formats}"),
    "unmapped_status": N_("this order status is not in the mapping's [status] table (it has: {known})"),
    "foreign_currency": N_("merchant {merchant} does not trade in this currency (it uses {currencies})"),
    "unknown_currency": N_("not a currency code such as CNY or GBP"),
    "bad_number": N_("not an amount such as 12.50"),
    "bad_quantity": N_("not a whole number"),
    "missing_value": N_("empty, but {field} is needed"),
    "no_mapping": N_("--mapping: {value} is neither a mapping file nor a shipped mapping ({shipped})"),
    "bad_mapping": N_("mapping {name}: {problem}"),
    "empty_file": N_("the file has no header row"),
    "unreadable": N_("the file cannot be read: {problem}"),
    "no_merchant": N_("--merchant: no merchant {value} (add --create-merchant to create it)"),
    "unknown_merchant": N_("--merchant: no merchant {value}; import its orders first"),
    "read_as": N_("read as {encoding}, {layout}; times without an offset in {zone}"),
    # History (cases) import.
    "history_done": N_("{inserted} cases imported, {kept} already there (same case id), from {rows} rows"),
    "no_order": N_("merchant {merchant} has no order {value}; import the orders first"),
    "no_order_line": N_("order {order} has no line with SKU or line number {value}"),
    "bad_state": N_("not a case state; allowed: {allowed}"),
    "bad_type": N_("not a case type; allowed: {allowed}"),
    "bad_reason": N_("not a reason of this merchant; allowed: {allowed}"),
    "bad_json": N_("not valid JSON: {problem}"),
    "closed_before_opened": N_("closed before it was opened ({opened})"),
    "refused": N_("{problem}"),
    "wrong_currency": N_("the order is in {expected}"),
    # Reviews import.
    "reviews_done": N_("{inserted} reviews imported, {updated} updated (same review), from {rows} reviews; "
                       "{without_order} name no order of this merchant (counted among all buyers only)"),
    "bad_rating": N_("not a rating: give a whole number from 1 to 5"),
    "too_long": N_("longer than {limit} characters"),
    "conflicting_rows": N_("case {value} is in the file twice with different orders"),
}


def say(key: str, lang: str, **params: object) -> str:
    text = MESSAGES[key]
    try:
        return gettext(lang, text).format(**params)
    except (KeyError, IndexError, ValueError):
        return text.format(**params)


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
                  **{k: pick(v, lang) if isinstance(v, dict) else v for k, v in self.params.items()}}
        return where + say(self.key, lang, **params)

    def __str__(self) -> str:
        return self.text("en")
