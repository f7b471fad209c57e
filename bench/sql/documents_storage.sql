-- The storage bench/documents.sh presigns for, configured as a DBA does it (superuser, plain
-- INSERTs): MinIO on 127.0.0.1:9000, path-style, bucket bench-bucket, the AWS documentation's
-- example key pair (the same as bench/presign_botocore.py's). Nothing listens on the
-- endpoint: presigning is local computation. Skipped on a pulse without storage credentials
-- (the build before issue 5).
\set ON_ERROR_STOP on
SELECT to_regclass('pulse.storage_credential') IS NOT NULL AS have_credentials \gset
\if :have_credentials
INSERT INTO pulse.storage_reference (code, label, provider, bucket, region, endpoint, addressing_style)
VALUES ('bench', 'Bench', 'minio', 'bench-bucket', 'us-east-1', 'http://127.0.0.1:9000', 'path');
INSERT INTO pulse.storage_credential (storage_id, access_key_id, secret_access_key)
SELECT storage_id, 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
  FROM pulse.storage_reference WHERE code = 'bench';
\endif
