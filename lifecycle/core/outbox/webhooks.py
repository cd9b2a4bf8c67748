"""Webhooks as Standard Webhooks (https://www.standardwebhooks.com) define them: secrets, URLs, signed POSTs.

A receiver checks a delivery with any Standard Webhooks library, e.g. in Python
`standardwebhooks.Webhook(secret).verify(body, headers)`: the signature is `v1,<base64 HMAC-SHA256>` over
`<webhook-id>.<webhook-timestamp>.<body>` with the subscription's (or rule's) secret.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import json
import re
import secrets
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from standardwebhooks import Webhook

from lifecycle.core.exceptions import InvalidInput

MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec: secrets of 24 to 64 bytes; we generate 32.
_SECRET_BYTES = (24, 64)
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?")
# Enough of a refusing receiver's answer to tell why, without storing whatever page it sent.
_ERROR_BODY_CHARS = 300


def new_webhook_secret() -> str:
    """A new signing secret, `whsec_` and 32 random bytes in base64: shown once to whoever subscribes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def check_webhook_secret(value: object, field: str = "webhookSecret") -> str:
    """`value` if it is a secret as new_webhook_secret makes them; else InvalidInput naming `field` (a 400)."""
    low, high = _SECRET_BYTES
    message = f"must be a Standard Webhooks secret: '{SECRET_PREFIX}' and {low} to {high} bytes in base64"
    if not isinstance(value, str) or not value.startswith(SECRET_PREFIX):
        raise InvalidInput.at(field, message)
    try:
        key = base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.at(field, message) from None
    if not _SECRET_BYTES[0] <= len(key) <= _SECRET_BYTES[1]:
        raise InvalidInput.at(field, message)
    return value


def check_webhook_url(value: object, field: str = "webhookUrl") -> str:
    """`value` if it is an http:// or https:// URL that a webhook can be POSTed to; else InvalidInput naming
    `field` (a 400). For API inputs too: `check_webhook_url(data.get("webhookUrl"))`."""
    message = "must be an http:// or https:// URL"
    if not isinstance(value, str) or not value:
        raise InvalidInput.at(field, message)
    if len(value) > MAX_URL_LENGTH:
        raise InvalidInput.at(field, f"must be at most {MAX_URL_LENGTH} characters")
    if any(character.isspace() or not character.isprintable() for character in value):
        raise InvalidInput.at(field, f"{message}, without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- parsing the port is what refuses "host:80x"
    except ValueError:
        raise InvalidInput.at(field, message) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not _is_host(parts.hostname):
        raise InvalidInput.at(field, message)
    if parts.username is not None or parts.password is not None:
        # urllib would not send them, and they would be stored and shown with the URL.
        raise InvalidInput.at(field, "must not contain a user name or password")
    return value


class DestinationUnresolved(OSError):
    """The URL's host does not resolve (now): a receiver's DNS may come back, so an attempt is retried."""


# IPv6 forms that carry an IPv4 address inside, which Python 3.11's is_global judges by the IPv6 prefix alone:
# NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and the deprecated IPv4-compatible form (::a.b.c.d).
_CARRY_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


def _addresses_in(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address, and any IPv4 address it carries (mapped, 6to4, NAT64, IPv4-compatible, Teredo's server)."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
        if any(ip in network for network in _CARRY_IPV4) and int(ip) > 0xFFFF:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def forbidden_destination(url: str) -> str | None:
    """Why a webhook may not be POSTed to `url` (its host resolves to a loopback, link-local, private or
    otherwise non-public address, or one that carries such an IPv4 address), or None; DestinationUnresolved
    when the host does not resolve. The server must not become a way into its own network;
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES lets on-premise receivers (and tests) through.

    Checked when a subscription is saved and again before every attempt (the name may point elsewhere by
    then). A name that changes between the check and the connection is not caught: a receiver's DNS is
    trusted for that instant.
    """
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationUnresolved(f"{host} does not resolve ({exc})") from exc
    for *_, address in found:
        for ip in _addresses_in(ipaddress.ip_address(address[0])):
            if not ip.is_global or ip.is_multicast:
                return (
                    f"{host} resolves to {ip}, a loopback, link-local, private or reserved address "
                    "(WEBHOOK_ALLOW_PRIVATE_ADDRESSES allows them)"
                )
    return None


def check_webhook_destination(url: str, field: str = "url") -> str:
    """check_webhook_url, then forbidden_destination: InvalidInput naming `field` (a 400) for either."""
    check_webhook_url(url, field)
    try:
        problem = forbidden_destination(url)
    except DestinationUnresolved as exc:
        raise InvalidInput.at(field, f"must reach a public address: {exc}") from None
    if problem is not None:
        raise InvalidInput.at(field, f"must reach a public address: {problem}")
    return url


def _is_host(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return True
    try:
        ascii_name = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return len(ascii_name) <= 253 and _HOST_NAME.fullmatch(ascii_name) is not None


def body_of(payload: Any) -> str:
    """The request body: the payload as compact JSON, the same bytes on every retry."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def signed_headers(*, secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for `body`, signed at `at` (now: receivers refuse old timestamps)."""
    signed_at = (at or datetime.now(UTC)).astimezone(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(signed_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id=message_id, timestamp=signed_at, data=body),
    }


@dataclass(frozen=True)
class Answer:
    """How one attempt ended: the receiver's status code (None without one), an error, and whether another
    attempt might do better."""

    status_code: int | None
    error: str = ""
    retry: bool = False

    @property
    def delivered(self) -> bool:
        return not self.error


def answer_for(status_code: int, detail: str = "") -> Answer:
    """A receiver's status code judged: 2xx delivered; 408, 429 and 5xx may pass later; other codes will not."""
    if 200 <= status_code < 300:
        return Answer(status_code)
    error = f"HTTP {status_code}" + (f": {detail}" if detail else "")
    if 300 <= status_code < 400:
        return Answer(status_code, f"{error} (redirects are not followed: give the final URL)", retry=False)
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return Answer(status_code, error, retry=False)
    return Answer(status_code, error, retry=True)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302 of a POST as a GET without the body, somewhere the subscriber did not
    # name; a 3xx stays an answer of its own instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(*, url: str, body: str, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` as JSON to `url`; never raises: every failure is an Answer. `timeout` bounds the connection
    and each read. A destination that is not public (forbidden_destination) is refused without a request."""
    try:
        problem = forbidden_destination(url)
    except DestinationUnresolved as exc:  # the receiver's DNS may come back
        return Answer(None, str(exc), retry=True)
    except Exception as exc:  # a URL stored before this check existed, unparseable: refused, not retried
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        return Answer(None, f"refused: {problem}", retry=False)
    request = urllib.request.Request(
        url,
        data=body.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "prompt-lifecycle-webhooks", **headers},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return answer_for(response.status)
    except urllib.error.HTTPError as exc:
        try:
            detail = _excerpt(exc)
        finally:
            exc.close()
        return answer_for(exc.code, detail)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return Answer(None, f"no answer within {timeout:g} s", retry=True)
        return Answer(None, f"could not connect: {exc.reason}", retry=True)
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s", retry=True)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}", retry=True)


def _excerpt(response: urllib.error.HTTPError) -> str:
    try:
        text = response.read(_ERROR_BODY_CHARS * 4).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException):
        return ""
    text = " ".join(text.split())
    return text[:_ERROR_BODY_CHARS] + ("…" if len(text) > _ERROR_BODY_CHARS else "")
