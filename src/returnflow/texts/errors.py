"""The API's error messages by key, in English; the catalogs (src/returnflow/locale/*) translate them.

`{name}` placeholders are filled from the error's params; every translation keeps the same placeholders."""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a string for the catalogs; it is translated where it is shown."""
    return text


MESSAGES: dict[str, str] = {
    'validation': N_('{field}: {problem}'),
    'required': N_('{field} is required'),
    'malformed_json': N_('The request body is not valid JSON: {problem}'),
    'not_found': N_('{what} {ref} was not found'),
    'unauthenticated': N_('Sign in or send an API token (Authorization: Bearer ...)'),
    'bad_credentials': N_('Email or password is wrong'),
    'too_many_sign_ins': N_('Too many failed sign-ins. Wait {minutes} minutes and try again, or ask an administrator to unlock the account'),
    'totp_required': N_('code: this account uses two-factor sign-in; send the 6-digit code of the authenticator app'),
    'totp_wrong': N_('code: the 6-digit code is wrong or was already used'),
    'two_factor_enrol_first': N_('Your merchant requires two-factor sign-in for your role: set it up first (POST /api/v1/auth/two-factor, then /api/v1/auth/two-factor/confirm)'),
    'forbidden_role': N_('Your role ({role}) may not {what}; allowed: {allowed}'),
    'forbidden_merchant': N_('This belongs to another merchant'),
    'merchant_required': N_('merchant: a platform user must name the merchant'),
    'illegal_transition': N_("A case in state '{state}' cannot '{action}'; allowed now: {allowed}"),
    'illegal_move': N_("A {kind} in state '{state}' cannot '{action}'; allowed now: {allowed}"),
    'unknown_action': N_("action: '{action}' is not an action; known actions: {allowed}"),
    'guard_failed': N_('{problem}'),
    'stale_version': N_('version: the case changed since you loaded it (you sent {sent}, it is now {current}); reload and try again'),
    'quantity_exceeds': N_('lines[{index}].quantity: {requested} asked, but only {available} of SKU {sku} can still be claimed ({delivered} delivered, {claimed} in other cases)'),
    'line_not_in_order': N_('lines[{index}]: order {order} has no line {line}'),
    'sku_not_in_order': N_('lines[{index}].sku: order {order} has no SKU {sku}'),
    'not_delivered': N_('lines[{index}]: SKU {sku} has not been delivered yet, so it cannot be returned'),
    'lines_required': N_('lines: a {type} case needs at least one order line'),
    'duplicate_line': N_('lines[{index}]: order line {line} appears twice'),
    'unknown_reason': N_("reason: '{reason}' is not a reason of this merchant; allowed: {allowed}"),
    'wrong_currency': N_('currency: {field} is in {got} but the order is in {expected}'),
    'unknown_currency': N_("{field}: unknown currency '{got}'"),
    'idempotency_mismatch': N_("Idempotency-Key '{key}' was already used with a different request; use a new key for a new request"),
    'file_type': N_("file: '{filename}' is {detected}; allowed: {allowed}"),
    'file_empty': N_("file: '{filename}' is empty"),
    'assignee_invalid': N_("assignee: '{assignee}' is not staff of this merchant"),
    'method_not_allowed': N_('{method} is not allowed here; allowed: {allowed}'),
    'no_such_path': N_('There is nothing at {path}'),
    'http_error': N_('{problem}'),
    'reopen_limit': N_('This case has been reopened {count} times already; the limit is {limit}'),
}

# Nouns that appear inside messages, so "order 123 was not found" reads right in every language.
NOUNS: dict[str, str] = {
    'order': N_('order'),
    'case': N_('case'),
    'merchant': N_('merchant'),
    'attachment': N_('attachment'),
    'user': N_('user'),
    'customer': N_('customer'),
    'order line': N_('order line'),
    'reason': N_('reason'),
}


# Pydantic's error types, in words: the `problem` of a validation message.
PROBLEMS: dict[str, str] = {
    'missing': N_('is required'),
    'extra_forbidden': N_('is not a known field'),
    'int_parsing': N_('must be a whole number'),
    'int_type': N_('must be a whole number'),
    'decimal_parsing': N_('must be a decimal number such as 12.30'),
    'decimal_type': N_('must be a decimal number such as 12.30'),
    'string_type': N_('must be text'),
    'bool_type': N_('must be true or false'),
    'datetime_parsing': N_('must be a date-time such as 2026-11-24T10:00:00+08:00'),
    'datetime_from_date_parsing': N_('must be a date-time such as 2026-11-24T10:00:00+08:00'),
    'timezone_aware': N_('needs its UTC offset, such as 2026-11-24T10:00:00+08:00 or ...Z; a time without one is ambiguous'),
}
NOT_VALID = N_("is not in the expected form: {detail}")
