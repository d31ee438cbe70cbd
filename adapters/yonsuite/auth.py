"""Yonyou BIP / YonSuite open platform (用友开放平台) authentication: a self-built
application's (自建应用) ``access_token``.

``GET <token url>/open-auth/selfAppAuth/getAccessToken?appKey=..&timestamp=..&signature=..``
where ``timestamp`` is Unix time in milliseconds and ``signature`` is
``URLEncode(Base64(HmacSHA256(appSecret, parameters)))``, the parameters (all but
``signature``) sorted by name and concatenated name then value:
``appKey<appKey>timestamp<timestamp>``. The reply is ``{"code": "00000", "message",
"data": {"access_token", "expire": <seconds, 7200>}}``; the token then travels as the
``access_token`` query parameter of every business call.

A tenant's gateway is found with ``GET <data-centre url>/open-auth/dataCenter/getGatewayAddress
?tenantId=..`` -> ``{"code": "00000", "data": {"gatewayUrl", "tokenUrl"}}`` when the
settings name a tenant instead of a gateway.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

TOKEN_PATH = "/open-auth/selfAppAuth/getAccessToken"
GATEWAY_PATH = "/open-auth/dataCenter/getGatewayAddress"
OK = "00000"


def string_to_sign(params: dict[str, str]) -> str:
    return "".join(f"{name}{params[name]}" for name in sorted(params) if name != "signature")


def signature(params: dict[str, str], app_secret: str) -> str:
    """Base64 of the HMAC-SHA256 (not yet URL-encoded: the HTTP client encodes query values)."""
    digest = hmac.new(app_secret.encode("utf-8"), string_to_sign(params).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def token_params(app_key: str, app_secret: str, timestamp_ms: int) -> dict[str, str]:
    params = {"appKey": app_key, "timestamp": str(timestamp_ms)}
    params["signature"] = signature(params, app_secret)
    return params
