"""The payment providers merchants refund through, one module each: WeChat Pay API v3 (`wechatpay`), Alipay
(`alipay`), and Stripe (`stripe`) for cross-border merchants. Each is a gateway (`send`, `lookup`) built from the
merchant's credentials (see `config`), and reads its own signed notifications (`read_notification`)."""

from __future__ import annotations

from ..gateways import GatewaySettings

PROVIDERS = ("wechatpay", "alipay", "stripe")
# The order's payment method (as shops and importers name it) -> the provider that refunds it.
METHOD_PROVIDER = {"wechat": "wechatpay", "wechat_pay": "wechatpay", "weixin": "wechatpay", "wxpay": "wechatpay",
                   "alipay": "alipay", "stripe": "stripe"}


def build(name: str, settings: GatewaySettings, conf: dict | None):
    from .alipay import AlipayGateway
    from .stripe import StripeGateway
    from .wechatpay import WechatPayGateway

    return {"wechatpay": WechatPayGateway, "alipay": AlipayGateway, "stripe": StripeGateway}[name](settings,
                                                                                                   conf or {})


def read_notification(name: str, conf: dict, *, headers: dict, body: bytes, form: dict, tolerance: int):
    from . import alipay, stripe, wechatpay

    if name == "wechatpay":
        return wechatpay.read_notification(conf, headers, body, tolerance=tolerance)
    if name == "stripe":
        return stripe.read_notification(conf, headers, body, tolerance=tolerance)
    return alipay.read_notification(conf, form, tolerance=tolerance)
