"""zh-CN and en: locale negotiation and the message catalogue for errors and labels."""

from __future__ import annotations

from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import Translations

SUPPORTED = ("zh-CN", "en")
CATALOGS = Path(__file__).resolve().parent / "locale"  # the Babel catalogs of the pages and the domain's words
BABEL_LOCALE = {"zh-CN": "zh_CN", "en": "en"}

# Message templates by key; `{name}` placeholders are filled from the error's params.
MESSAGES: dict[str, dict[str, str]] = {
    "validation": {"en": "{field}: {problem}", "zh-CN": "{field}：{problem}"},
    "required": {"en": "{field} is required", "zh-CN": "{field} 为必填项"},
    "malformed_json": {"en": "The request body is not valid JSON: {problem}",
                       "zh-CN": "请求内容不是有效的 JSON：{problem}"},
    "not_found": {"en": "{what} {ref} was not found", "zh-CN": "找不到{what} {ref}"},
    "unauthenticated": {"en": "Sign in or send an API token (Authorization: Bearer ...)",
                        "zh-CN": "请先登录，或在请求头中提供 API 令牌（Authorization: Bearer ...）"},
    "bad_credentials": {"en": "Email or password is wrong", "zh-CN": "邮箱或密码不正确"},
    "too_many_sign_ins": {"en": "Too many failed sign-ins. Wait {minutes} minutes and try again, or ask an "
                                "administrator to unlock the account",
                          "zh-CN": "登录失败次数过多。请等待 {minutes} 分钟后再试，或请管理员解锁该账号"},
    "totp_required": {"en": "code: this account uses two-factor sign-in; send the 6-digit code of the authenticator app",
                      "zh-CN": "code：该账号已启用两步验证；请提供验证器应用显示的 6 位验证码"},
    "totp_wrong": {"en": "code: the 6-digit code is wrong or was already used", "zh-CN": "code：6 位验证码不正确或已使用过"},
    "two_factor_enrol_first": {"en": "Your merchant requires two-factor sign-in for your role: set it up first "
                                     "(POST /api/v1/auth/two-factor, then /api/v1/auth/two-factor/confirm)",
                               "zh-CN": "商家要求您的角色启用两步验证：请先完成设置（POST /api/v1/auth/two-factor，"
                                        "再 POST /api/v1/auth/two-factor/confirm）"},
    "forbidden_role": {"en": "Your role ({role}) may not {what}; allowed: {allowed}",
                       "zh-CN": "您的角色（{role}）无权执行 {what}；允许的角色：{allowed}"},
    "forbidden_merchant": {"en": "This belongs to another merchant", "zh-CN": "该数据属于其他商家，无权访问"},
    "merchant_required": {"en": "merchant: a platform user must name the merchant",
                          "zh-CN": "merchant：平台用户必须指定商家"},
    "illegal_transition": {"en": "A case in state '{state}' cannot '{action}'; allowed now: {allowed}",
                           "zh-CN": "售后单当前状态为「{state}」，不能执行「{action}」；当前可执行：{allowed}"},
    "illegal_move": {"en": "A {kind} in state '{state}' cannot '{action}'; allowed now: {allowed}",
                     "zh-CN": "该记录（{kind}）当前状态为「{state}」，不能执行「{action}」；当前可执行：{allowed}"},
    "unknown_action": {"en": "action: '{action}' is not an action; known actions: {allowed}",
                       "zh-CN": "action：「{action}」不是有效操作；可用操作：{allowed}"},
    "guard_failed": {"en": "{problem}", "zh-CN": "{problem}"},
    "stale_version": {"en": "version: the case changed since you loaded it (you sent {sent}, it is now {current}); reload and try again",
                      "zh-CN": "version：售后单已被他人修改（您提交的版本 {sent}，当前版本 {current}），请刷新后重试"},
    "quantity_exceeds": {"en": "lines[{index}].quantity: {requested} asked, but only {available} of SKU {sku} can still be claimed ({delivered} delivered, {claimed} in other cases)",
                         "zh-CN": "lines[{index}].quantity：申请 {requested} 件，但 SKU {sku} 仅剩 {available} 件可申请售后（已签收 {delivered} 件，其他售后单已占用 {claimed} 件）"},
    "line_not_in_order": {"en": "lines[{index}]: order {order} has no line {line}",
                          "zh-CN": "lines[{index}]：订单 {order} 中没有第 {line} 行"},
    "sku_not_in_order": {"en": "lines[{index}].sku: order {order} has no SKU {sku}",
                         "zh-CN": "lines[{index}].sku：订单 {order} 中没有 SKU {sku}"},
    "not_delivered": {"en": "lines[{index}]: SKU {sku} has not been delivered yet, so it cannot be returned",
                      "zh-CN": "lines[{index}]：SKU {sku} 尚未签收，暂不能申请退货"},
    "lines_required": {"en": "lines: a {type} case needs at least one order line",
                       "zh-CN": "lines：「{type}」类型的售后单至少需要一个订单行"},
    "duplicate_line": {"en": "lines[{index}]: order line {line} appears twice", "zh-CN": "lines[{index}]：订单行 {line} 重复出现"},
    "unknown_reason": {"en": "reason: '{reason}' is not a reason of this merchant; allowed: {allowed}",
                       "zh-CN": "reason：「{reason}」不是本商家的售后原因；可选：{allowed}"},
    "wrong_currency": {"en": "currency: {field} is in {got} but the order is in {expected}",
                       "zh-CN": "currency：{field} 的币种为 {got}，但订单币种为 {expected}"},
    "unknown_currency": {"en": "{field}: unknown currency '{got}'", "zh-CN": "{field}：未知币种「{got}」"},
    "idempotency_mismatch": {"en": "Idempotency-Key '{key}' was already used with a different request; use a new key for a new request",
                             "zh-CN": "幂等键「{key}」已用于另一个不同的请求；新请求请使用新的幂等键"},
    "file_type": {"en": "file: '{filename}' is {detected}; allowed: {allowed}",
                  "zh-CN": "file：「{filename}」的实际类型为 {detected}；允许的类型：{allowed}"},
    "file_empty": {"en": "file: '{filename}' is empty", "zh-CN": "file：「{filename}」是空文件"},
    "assignee_invalid": {"en": "assignee: '{assignee}' is not staff of this merchant",
                         "zh-CN": "assignee：「{assignee}」不是本商家的员工"},
    "method_not_allowed": {"en": "{method} is not allowed here; allowed: {allowed}",
                           "zh-CN": "此地址不支持 {method}；支持：{allowed}"},
    "no_such_path": {"en": "There is nothing at {path}", "zh-CN": "地址 {path} 不存在"},
    "http_error": {"en": "{problem}", "zh-CN": "{problem}"},
    "reopen_limit": {"en": "This case has been reopened {count} times already; the limit is {limit}",
                     "zh-CN": "该售后单已重新打开 {count} 次，已达上限 {limit} 次"},
}


# Nouns that appear inside messages, so "order 123 was not found" reads right in Chinese too.
LABELS: dict[str, dict[str, str]] = {
    "order": {"zh-CN": "订单"}, "case": {"zh-CN": "售后单"}, "merchant": {"zh-CN": "商家"},
    "attachment": {"zh-CN": "凭证文件"}, "user": {"zh-CN": "用户"}, "customer": {"zh-CN": "顾客"},
    "order line": {"zh-CN": "订单行"}, "reason": {"zh-CN": "原因"},
}


def label(word: str, locale: str) -> str:
    """A noun in `locale`, or the word itself."""
    return LABELS.get(word, {}).get(locale, word)


def negotiate(accept_language: str | None, default: str = "zh-CN") -> str:
    """Picks zh-CN or en from an Accept-Language header."""
    if not accept_language:
        return default
    wanted = []
    for part in accept_language.split(","):
        piece = part.split(";")[0].strip()
        if piece:
            wanted.append(piece.replace("-", "_"))
    try:
        found = Locale.negotiate(wanted, ["zh_CN", "en"], sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    if found is None:
        for piece in wanted:
            if piece.lower().startswith("zh"):
                return "zh-CN"
            if piece.lower().startswith("en"):
                return "en"
        return default
    return "zh-CN" if str(found).startswith("zh") else "en"


def message(key: str, locale: str, /, **params) -> str:
    """The message `key` in `locale`, with its params filled in."""
    templates = MESSAGES.get(key) or {"en": key, "zh-CN": key}
    template = templates.get(locale) or templates["en"]
    if "what" in params:
        params["what"] = label(str(params["what"]), locale)
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
    return text


_TRANSLATIONS: dict[str, Translations] = {}


def translations(locale: str) -> Translations:
    """The compiled catalog of `locale` (loaded once per process)."""
    found = _TRANSLATIONS.get(locale)
    if found is None:
        found = _TRANSLATIONS[locale] = Translations.load(str(CATALOGS), [BABEL_LOCALE[locale]], domain="messages")
    return found


def gettext(locale: str, text: str) -> str:
    """`text` translated into `locale` from the catalogs."""
    return translations(locale).gettext(text)
