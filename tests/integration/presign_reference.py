"""botocore as the reference for pulse's S3 presigned URLs.

An importable helper, not a test module. ``botocore_presign(case)`` gives the
URL botocore's ``generate_presigned_url`` produces for a case, at the case's
fixed signing time; ``generate_cases(n, seed)`` gives deterministic awkward
cases on which pulse and botocore agree byte for byte; ``pulse_endpoint(case)``
gives the endpoint as pulse takes it (scheme, host[:port], region, addressing).

A case is a dict::

    endpoint_url         None (AWS itself) or e.g. "http://127.0.0.1:9000"
    region               signing region, e.g. "us-east-1"
    bucket, key          bucket name, object key (text, unencoded)
    method               "GET" | "PUT" | "HEAD" | "DELETE"
    expires_in           seconds, 1 .. 604800
    signed_at            timezone-aware datetime (whole seconds)
    access_key, secret_key, session_token (None without a token)
    addressing           "virtual" | "path"
    checksum_sha256_hex  None or 64 lower-case hex digits (PUT only)
    content_type         None or e.g. "text/plain" (PUT only)

Where botocore and pulse knowingly differ, ``generate_cases`` does not go:

- virtual addressing over plain http to an IP-address endpoint with a dotted
  bucket: botocore prepends the bucket to the address (``my.bucket.127.0.0.1``,
  ``my.bucket.[::1]``), pulse falls back to path-style as it does for every
  IP endpoint;
- content type ``application/x-www-form-urlencoded; charset=utf-8``: botocore
  drops exactly this value from presigned requests, pulse signs it;
- upper-case endpoint host names: botocore keeps their case in the URL, pulse
  lower-cases the host (the signature is the same either way);
- keys with ``.`` or ``..`` path segments, control characters, and
  ``endpoint_url`` values with a path: pulse refuses them.

Written against botocore 1.44.8 (pinned in tests/requirements.txt): it reads
the signing time from ``botocore.auth.get_current_datetime``, which is what
``botocore_presign`` patches.
"""

from __future__ import annotations

import base64
import datetime
import random
from functools import lru_cache
from unittest import mock
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config

_OPERATIONS = {
    "GET": "get_object",
    "PUT": "put_object",
    "HEAD": "head_object",
    "DELETE": "delete_object",
}


@lru_cache(maxsize=1)
def _session():
    return botocore.session.get_session()


@lru_cache(maxsize=256)
def _client(endpoint_url, region, access_key, secret_key, session_token, addressing):
    # Clients are slow to make (they load the service model and endpoint
    # rules) and hold no per-request state, so one per configuration.
    return _session().create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=Config(signature_version="s3v4", s3={"addressing_style": addressing}),
    )


def botocore_presign(case: dict) -> str:
    """The URL botocore presigns for ``case``, signed at ``case['signed_at']``."""
    client = _client(
        case["endpoint_url"],
        case["region"],
        case["access_key"],
        case["secret_key"],
        case["session_token"],
        case["addressing"],
    )
    params = {"Bucket": case["bucket"], "Key": case["key"]}
    if case.get("checksum_sha256_hex") is not None:
        digest = bytes.fromhex(case["checksum_sha256_hex"])
        params["ChecksumSHA256"] = base64.b64encode(digest).decode("ascii")
    if case.get("content_type") is not None:
        params["ContentType"] = case["content_type"]
    signed_at = case["signed_at"]
    if signed_at.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    # botocore wants naive UTC, as datetime.now(timezone.utc) without tzinfo.
    naive_utc = signed_at.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        return client.generate_presigned_url(
            _OPERATIONS[case["method"]],
            Params=params,
            ExpiresIn=case["expires_in"],
            HttpMethod=case["method"],
        )


def pulse_endpoint(case: dict) -> dict:
    """The endpoint as pulse takes it: ``{"https": bool, "host": "host[:port]",
    "region": str, "addressing": "virtual" | "path"}``. Without
    ``endpoint_url`` this is AWS itself, with botocore's host names
    (``s3.amazonaws.com`` for us-east-1, ``s3.<region>.amazonaws.com`` else).
    """
    if case["endpoint_url"] is None:
        region = case["region"]
        host = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
        https = True
    else:
        parts = urlsplit(case["endpoint_url"])
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("pulse endpoints are scheme://host[:port] only")
        https = parts.scheme == "https"
        host = parts.netloc
    return {
        "https": https,
        "host": host,
        "region": case["region"],
        "addressing": case["addressing"],
    }


# Pieces of awkward keys: every reserved character, '%' and things that look
# like escapes, spaces (also no-break and zero-width), multi-byte UTF-8,
# repeated slashes, dots next to other characters.
_KEY_PIECES = [
    "a", "Z", "0", "report", " ", "+", "%", "%20", "%2F", "/", "//", "~", "*", "'",
    "(", ")", "!", "é", "日本語", "😀", "-", "_", ".", "..x", "=", "&", "?", "#",
    ":", "@", ",", ";", "$", "[", "]", "{", "}", "|", "\\", "^", "`", '"', "<", ">",
    "\u00a0", "\u200b", "ß", "Ω",
]  # fmt: skip

_CUSTOM_ENDPOINTS = [
    "http://127.0.0.1:9000",  # MinIO
    "http://localhost:9000",
    "http://[::1]:9000",
    "https://minio.internal:9000",
    "http://ceph-rgw.lan:7480",  # Ceph RGW
    "https://acc0unt.r2.cloudflarestorage.com",  # R2
    "https://s3.example.com",
    "https://s3.example.com:443",
    "http://s3.example.com:8080",
]
_AWS_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
_CUSTOM_REGIONS = ["us-east-1", "auto", "garage", "eu-central-1"]
_BUCKETS = ["bkt", "my-bucket", "a.b.c", "123", "logs-2026"]
_CONTENT_TYPES = [
    "text/plain",
    "application/octet-stream",
    "image/png",
    "text/plain; charset=utf-8",
    "application/vnd.api+json",
]
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_SECRET_CHARS = _TOKEN_CHARS + "-_"


def _key(rng: random.Random) -> str:
    while True:
        key = "".join(rng.choice(_KEY_PIECES) for _ in range(rng.randint(1, 12)))
        if all(segment not in (".", "..") for segment in key.split("/")):
            return key


def generate_cases(n: int, seed: int) -> list[dict]:
    """``n`` deterministic cases (same ``seed``, same cases) covering both
    addressing styles, AWS and custom endpoints (http/https, ports, IPv4,
    IPv6, localhost), several regions, expiries from 1 s to 7 days, with and
    without a session token, and PUTs with and without a signed checksum and
    content type."""
    rng = random.Random(seed)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    start_2000, end_2100 = 946_684_800, 4_102_444_800
    cases = []
    while len(cases) < n:
        if rng.random() < 0.3:
            endpoint_url = None
            region = rng.choice(_AWS_REGIONS)
        else:
            endpoint_url = rng.choice(_CUSTOM_ENDPOINTS)
            region = rng.choice(_CUSTOM_REGIONS)
        addressing = rng.choice(["virtual", "path"])
        bucket = rng.choice(_BUCKETS)
        if (
            endpoint_url is not None
            and endpoint_url.startswith(("http://127.", "http://["))
            and addressing == "virtual"
            and "." in bucket
        ):
            continue  # botocore's quirk, see the module docstring
        method = rng.choice(list(_OPERATIONS))
        expires_in = rng.choice([1, 604_800, rng.randint(1, 604_800), rng.randint(1, 3_600)])
        put = method == "PUT"
        cases.append(
            {
                "endpoint_url": endpoint_url,
                "region": region,
                "bucket": bucket,
                "key": _key(rng),
                "method": method,
                "expires_in": expires_in,
                "signed_at": epoch
                + datetime.timedelta(seconds=rng.randrange(start_2000, end_2100)),
                "access_key": rng.choice(["AKIAIOSFODNN7EXAMPLE", "minioadmin", "AK"]),
                "secret_key": "".join(rng.choice(_SECRET_CHARS) for _ in range(40)),
                "session_token": (
                    "".join(rng.choice(_TOKEN_CHARS) for _ in range(rng.randint(1, 300)))
                    if rng.random() < 0.4
                    else None
                ),
                "addressing": addressing,
                "checksum_sha256_hex": (
                    rng.randbytes(32).hex() if put and rng.random() < 0.5 else None
                ),
                "content_type": (
                    rng.choice(_CONTENT_TYPES) if put and rng.random() < 0.5 else None
                ),
            }
        )
    return cases
