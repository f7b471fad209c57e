-- Data set and timing harness of the documents suite (bench/suites/documents.sh), run as
-- superuser in the database "bench".
--
-- SHA-256 inputs: random bytes (incompressible) in three tables, stored so that no contestant
-- pays for decompression (row counts: psql variables n32, n8k, n1m; full runs use these):
--   bench.data_32  100,000 rows of 32 B    STORAGE PLAIN     (inline in the heap tuple)
--   bench.data_8k   20,000 rows of 8 KiB   STORAGE EXTERNAL  (out of line in TOAST, never compressed)
--   bench.data_1m      200 rows of 1 MiB   STORAGE EXTERNAL  (out of line in TOAST, never compressed)
-- Values above the TOAST threshold (about 2 kB) cannot be PLAIN; EXTERNAL keeps them
-- uncompressed, so reading one costs the TOAST chunk fetches (the same for every contestant,
-- and measured on its own by the "read" contestant, get_byte(data, 0), which detoasts the
-- whole value and hashes nothing).
--
-- Timing: bench.run_round() runs every contestant in one backend, inside the server: first a
-- warm-up on 10 rows (plans, caches, the library loaded), then the measured statement
-- `SELECT count(<expression>) FROM <source>` reps times between two clock_timestamp() reads.
-- No network and no client in the measurement; the per-row cost of the executor (scan or
-- generate_series, count) is in every contestant and is measured by the baselines. Odd
-- rounds run the contestants in one order, even rounds in the reverse order.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA bench;

CREATE TABLE bench.data_32 (data bytea NOT NULL);
CREATE TABLE bench.data_8k (data bytea NOT NULL);
CREATE TABLE bench.data_1m (data bytea NOT NULL);
ALTER TABLE bench.data_32 ALTER COLUMN data SET STORAGE PLAIN;
ALTER TABLE bench.data_8k ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE bench.data_1m ALTER COLUMN data SET STORAGE EXTERNAL;
-- gen_random_bytes gives at most 1024 bytes per call; the subqueries refer to the outer row
-- so that they run once per row.
INSERT INTO bench.data_32 SELECT gen_random_bytes(32) FROM generate_series(1, :n32);
INSERT INTO bench.data_8k
SELECT (SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 8) WHERE g > 0)
  FROM generate_series(1, :n8k) g;
INSERT INTO bench.data_1m
SELECT (SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 1024) WHERE g > 0)
  FROM generate_series(1, :n1m) g;
-- Frozen and hinted now, so that no measured scan writes hint bits.
VACUUM (FREEZE, ANALYZE) bench.data_32, bench.data_8k, bench.data_1m;

-- The rows of each source (presign: NULL, the URL count given to run_round).
CREATE TABLE bench.dataset (source text PRIMARY KEY, rows bigint);
INSERT INTO bench.dataset
SELECT 'bench.data_32', count(*) FROM bench.data_32
UNION ALL SELECT 'bench.data_8k', count(*) FROM bench.data_8k
UNION ALL SELECT 'bench.data_1m', count(*) FROM bench.data_1m;
-- The keys and checksums of the presigned URLs: content-addressed keys as documents uses
-- them ('p' || project || '/sha256/' || 64 hex digits), a different one per row; OFFSET 0
-- keeps h computed once per row even where the expression uses it twice.
INSERT INTO bench.dataset VALUES
    ('(SELECT lpad(to_hex(i), 64, ''0'') AS h FROM generate_series(1, $1) i OFFSET 0) s', NULL);

CREATE TABLE bench.contestant (
    ord    integer PRIMARY KEY,
    name   text NOT NULL UNIQUE,
    expr   text NOT NULL,    -- counted per row, over "data" (bytea) or "h" (64 hex digits)
    source text NOT NULL REFERENCES bench.dataset,
    reps   integer NOT NULL  -- executions per measurement (about 0.1 s or more each)
);
INSERT INTO bench.contestant
SELECT p.o, p.name, p.expr, s.source, 1
  FROM (VALUES
    (1, 'presign/baseline', $q$'p1/sha256/' || h$q$),
    (2, 'presign/get',      $q$pulse.s3_presign('bench', 'GET', 'p1/sha256/' || h, 3600)$q$),
    (3, 'presign/put',      $q$pulse.s3_presign('bench', 'PUT', 'p1/sha256/' || h, 3600, now(), h, 'application/pdf')$q$)
  ) p (o, name, expr)
  CROSS JOIN LATERAL (SELECT source FROM bench.dataset WHERE rows IS NULL) s
UNION ALL
SELECT 3 + row_number() OVER (ORDER BY sizes.o, f.o2), size || '/' || f.name, f.expr, 'bench.data_' || size,
       CASE size WHEN '32' THEN 5 ELSE 2 END
  FROM unnest(ARRAY['32', '8k', '1m']) WITH ORDINALITY AS sizes (size, o)
 CROSS JOIN (VALUES
    (1, 'read',                 'get_byte(data, 0)'),
    (2, 'pulse.sha256_bytes',   'pulse.sha256_bytes(data)'),
    (3, 'sha256',               'sha256(data)'),
    (4, 'digest',               $q$digest(data, 'sha256')$q$),
    (5, 'pulse.sha256_hex',     'pulse.sha256_hex(data)'),
    (6, 'encode(sha256)',       $q$encode(sha256(data), 'hex')$q$),
    (7, 'encode(digest)',       $q$encode(digest(data, 'sha256'), 'hex')$q$)
  ) f (o2, name, expr)
;

-- One round: one row per contestant, microseconds per row (per URL, per hashed value).
CREATE FUNCTION bench.run_round(round integer, presign_urls integer)
RETURNS TABLE (name text, us_per_row float8)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    statement text;
    started timestamptz;
BEGIN
    FOR c IN
        SELECT k.*, coalesce(d.rows, presign_urls) AS rows
          FROM bench.contestant k JOIN bench.dataset d USING (source)
         ORDER BY CASE WHEN round % 2 = 1 THEN k.ord ELSE -k.ord END
    LOOP
        EXECUTE format('SELECT count(%s) FROM (SELECT * FROM %s LIMIT 10) w', c.expr, c.source) USING 10;
        statement := format('SELECT count(%s) FROM %s', c.expr, c.source);
        started := clock_timestamp();
        FOR r IN 1..c.reps LOOP
            EXECUTE statement USING presign_urls;
        END LOOP;
        name := c.name;
        us_per_row := extract(epoch FROM clock_timestamp() - started) * 1e6 / c.reps / c.rows;
        RETURN NEXT;
    END LOOP;
END
$$;
