"""Kingdee K/3 Cloud WebAPI authentication, both styles.

1. ``AuthService.LoginBySign`` (session): parameters ``[acctId, username, appId,
   timestamp, sign, lcid]`` with ``sign = sha256(sorted([acctId, username, appId,
   appSecret, timestamp]) joined)`` as lower-case hex; the session travels in the
   ``kdservice-sessionid`` cookie.

2. Signed request headers (no session), as sent by Kingdee's official WebAPI
   SDKs (Python ``kingdee.cdp.webapi.sdk`` 8.x ``ApiRequester`` header builder,
   and the .NET/Java SDKs' equivalent), read through public re-implementations
   and documentation notes; never copied:

   ``X-Api-ClientID``      the part of the AppID before ``_``
   ``X-Api-Auth-Version``  ``2.0``
   ``x-api-timestamp``     Unix time (the Python SDK: seconds; .NET: milliseconds)
   ``x-api-nonce``         a random token (the Python SDK reuses the timestamp)
   ``x-api-signheaders``   ``x-api-timestamp,x-api-nonce``
   ``X-Api-Signature``     ``b64(hex(HMAC-SHA256(client_secret, "POST\\n" + enc(path)
                           + "\\n\\nx-api-nonce:" + nonce + "\\nx-api-timestamp:" + ts + "\\n")))``
                           where enc = UTF-8 percent-encoding with ``/`` as ``%2F``,
                           and client_secret = b64(b64decode(AppID part after ``_``)
                           XOR the ASCII bytes ``0054f397c6234378b09ca7d3e5debce7``)
   ``X-Kd-Appkey``         the AppID
   ``X-Kd-Appdata``        ``b64("acctId,username,lcid,orgNum")``
   ``X-Kd-Signature``      ``b64(hex(HMAC-SHA256(AppSecret, AppID + appdata)))``

   Note the signature is base64 of the lower-case *hex string*, not of the raw
   digest.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
import uuid
from urllib.parse import quote

XOR_KEY = b"0054f397c6234378b09ca7d3e5debce7"
AUTH_VERSION = "2.0"
SIGN_HEADERS = "x-api-timestamp,x-api-nonce"


def login_sign(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """The ``sign`` parameter of AuthService.LoginBySign."""
    return hashlib.sha256("".join(sorted([acct_id, username, app_id, app_secret, timestamp])).encode()).hexdigest()


def hmac_b64hex(message: str, key: str) -> str:
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def split_app_id(app_id: str) -> tuple[str, str]:
    """(client id, gateway client secret) from an AppID ``<clientId>_<32 chars>``; ("", "") otherwise."""
    parts = app_id.split("_")
    if len(parts) != 2 or len(parts[1]) != 32:
        return "", ""
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "", ""
    return parts[0], base64.b64encode(bytes(b ^ XOR_KEY[i % len(XOR_KEY)] for i, b in enumerate(raw))).decode()


def encode_path(path: str) -> str:
    return quote(path, safe="", encoding="utf-8")


def api_string_to_sign(path: str, nonce: str, timestamp: str) -> str:
    return f"POST\n{encode_path(path)}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{timestamp}\n"


def app_data(acct_id: str, username: str, lcid: int | str, org_num: int | str) -> str:
    return f"{acct_id},{username},{lcid},{org_num}"


def signed_headers(path: str, *, acct_id: str, username: str, app_id: str, app_secret: str,
                   lcid: int | str = 2052, org_num: int | str = 0, now: float | None = None,
                   nonce: str | None = None) -> dict[str, str]:
    """The headers of one signed K/3 Cloud WebAPI request to ``path`` (e.g. ``/K3Cloud/Kingdee...kdsvc``)."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    headers: dict[str, str] = {}
    client_id, client_secret = split_app_id(app_id)
    if client_id:
        headers.update({
            "X-Api-ClientID": client_id,
            "X-Api-Auth-Version": AUTH_VERSION,
            "x-api-timestamp": timestamp,
            "x-api-nonce": nonce,
            "x-api-signheaders": SIGN_HEADERS,
            "X-Api-Signature": hmac_b64hex(api_string_to_sign(path, nonce, timestamp), client_secret),
        })
    data = app_data(acct_id, username, lcid, org_num)
    headers["X-Kd-Appkey"] = app_id
    headers["X-Kd-Appdata"] = base64.b64encode(data.encode("utf-8")).decode("ascii")
    headers["X-Kd-Signature"] = hmac_b64hex(app_id + data, app_secret)
    return headers
