"""pulse.s3_presign against AWS's published example and against botocore.

A presigned URL is only right if the server recomputes the same signature, and pulse is
meant to sign exactly as botocore's generate_presigned_url does (the contract says the URLs
are equal). These tests compare the URLs as text, byte for byte, at fixed signing times.
"""

import datetime

import psycopg
import pytest

from conftest import create_database, drop_database
from presign_reference import botocore_presign, generate_cases

# https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, "Example".
AWS_EXAMPLE = {
    "endpoint_url": None,
    "region": "us-east-1",
    "bucket": "examplebucket",
    "key": "test.txt",
    "method": "GET",
    "expires_in": 86400,
    "signed_at": datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc),
    "access_key": "AKIAIOSFODNN7EXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "session_token": None,
    "addressing": "virtual",
    "checksum_sha256_hex": None,
    "content_type": None,
}
AWS_EXAMPLE_URL = (
    "https://examplebucket.s3.amazonaws.com/test.txt"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)

CASE_COUNT = 400
CASE_SEED = 20260525  # fixed: a failure must reproduce


@pytest.fixture(scope="module")
def db():
    database = create_database()
    yield database
    drop_database(database)


def storage_of(case: dict) -> tuple:
    """What a storage row fixes: everything but the request (method, key, expiry, time, headers)."""
    return (case["endpoint_url"], case["region"], case["bucket"], case["addressing"],
            case["access_key"], case["secret_key"], case["session_token"])


def configure_storages(conn, cases: list[dict], prefix: str) -> dict:
    """One storage row (and its credentials) per distinct configuration among the cases, in one
    transaction, as the DBA would; returns {storage_of(case): code}."""
    codes = {}
    with conn.transaction():
        for config in dict.fromkeys(storage_of(case) for case in cases):
            endpoint, region, bucket, addressing, access_key, secret_key, session_token = config
            code = f"{prefix}-{len(codes) + 1}"
            storage_id = conn.execute(
                """INSERT INTO pulse.storage_reference (code, label, provider, bucket, region, endpoint,
                                                        addressing_style, key_prefix)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, '') RETURNING storage_id""",
                (code, f"Presign case {code}", "aws_s3" if endpoint is None else "s3_compatible",
                 bucket, region, endpoint, addressing)).fetchone()[0]
            conn.execute(
                """INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key,
                                                         session_token, max_expires_in)
                   VALUES (%s, %s, %s, %s, 604800)""",
                (storage_id, access_key, secret_key, session_token))
            codes[config] = code
    return codes


def pulse_presign(conn, code: str, case: dict) -> str:
    return conn.execute(
        "SELECT pulse.s3_presign(%s, %s, %s, %s, %s, %s, %s)",
        (code, case["method"], case["key"], case["expires_in"], case["signed_at"],
         case["checksum_sha256_hex"], case["content_type"])).fetchone()[0]


def test_aws_published_example_byte_for_byte(db):
    # The reference itself must reproduce AWS's example, or the comparison below means nothing.
    assert botocore_presign(AWS_EXAMPLE) == AWS_EXAMPLE_URL
    with db.connect(autocommit=True) as su:
        codes = configure_storages(su, [AWS_EXAMPLE], "aws-example")
        assert pulse_presign(su, codes[storage_of(AWS_EXAMPLE)], AWS_EXAMPLE) == AWS_EXAMPLE_URL


def test_generated_cases_equal_botocore(db):
    cases = generate_cases(CASE_COUNT, CASE_SEED)
    with db.connect(autocommit=True) as su:
        codes = configure_storages(su, cases, "case")
        mismatches = []
        for number, case in enumerate(cases):
            expected = botocore_presign(case)
            try:
                got = pulse_presign(su, codes[storage_of(case)], case)
            except psycopg.Error as error:  # autocommit: the next case runs regardless
                got = f"refused with {error.sqlstate}: {error.diag.message_primary}"
            if got != expected:
                mismatches.append(f"case {number} {case!r}\n  botocore: {expected}\n  pulse:    {got}")
    # Every case, not just the first to differ: the pattern of failures is the diagnosis.
    assert not mismatches, f"{len(mismatches)} of {len(cases)} URLs differ:\n" + "\n".join(mismatches[:10])
