"""One round of the botocore side of bench/suites/documents.sh: microseconds per presigned URL.

    .venv/bin/python bench/presign_botocore.py [URLS]
    .venv/bin/python bench/presign_botocore.py --check   # the two URLs for key 1 at 2026-01-01 00:00 UTC

Times ``client.generate_presigned_url`` (botocore, the pin in tests/requirements.txt) for
the same inputs as the SQL side: storage at http://127.0.0.1:9000, path-style, us-east-1,
bucket bench-bucket, a different content-addressed key per call
('p1/sha256/' + 64 hex digits), 1 hour. GET, and PUT with a signed x-amz-checksum-sha256
(the caller turns the hex digest into base64, as botocore wants it) and content type. The
client is made once, before timing (making one takes tens of milliseconds), and each
contestant is warmed up first. "baseline" is the same loop making the key (and checksum)
without signing. Prints "botocore/<name> <microseconds per URL>", one line each.

--check prints the GET and the PUT URL of the first key signed at a fixed time, for the
script to compare with pulse's: the benchmark compares equal work only if they are equal.
"""

import base64
import datetime
import sys
import timeit
from unittest import mock

import botocore.session
from botocore.config import Config

CHECK = sys.argv[1:] == ["--check"]
URLS = 2000 if CHECK or len(sys.argv) < 2 else int(sys.argv[1])

client = botocore.session.get_session().create_client(
    "s3",
    region_name="us-east-1",
    endpoint_url="http://127.0.0.1:9000",
    aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)
presign = client.generate_presigned_url
counter = iter(range(1, 1 << 62))


def baseline():
    h = f"{next(counter):064x}"
    return {"Bucket": "bench-bucket", "Key": "p1/sha256/" + h}, base64.b64encode(bytes.fromhex(h))


def get():
    h = f"{next(counter):064x}"
    return presign(
        "get_object",
        Params={"Bucket": "bench-bucket", "Key": "p1/sha256/" + h},
        ExpiresIn=3600,
        HttpMethod="GET",
    )


def put():
    h = f"{next(counter):064x}"
    return presign(
        "put_object",
        Params={
            "Bucket": "bench-bucket",
            "Key": "p1/sha256/" + h,
            "ChecksumSHA256": base64.b64encode(bytes.fromhex(h)).decode("ascii"),
            "ContentType": "application/pdf",
        },
        ExpiresIn=3600,
        HttpMethod="PUT",
    )


if CHECK:
    # botocore reads the signing time from botocore.auth.get_current_datetime (naive UTC).
    with mock.patch("botocore.auth.get_current_datetime", return_value=datetime.datetime(2026, 1, 1)):
        print(get())
        counter = iter(range(1, 2))
        print(put())
    sys.exit(0)

for name, fn in (("baseline", baseline), ("get", get), ("put", put)):
    timer = timeit.Timer(fn)
    timer.timeit(number=max(10, URLS // 20))  # warm-up: first-call caches, endpoint rules
    print(f"botocore/{name} {timer.timeit(number=URLS) * 1e6 / URLS:.3f}")
