# shellcheck shell=bash
# The data of the access and scale suites, loaded into a fresh "bench" database: PROJECTS
# projects with 50 documents each and a reader who is an editor in 10 of them
# (bench/sql/rls_data.sql). Sets READER, TOKEN (a live session of the reader's), DOC (a
# document in the middle of the reader's first project) and READER_DOCS (the ids of the
# reader's documents as an array literal, for the audited update of the scale suite).
# $1: projects.
load_access_data() {
    bench_database
    say "Loading $1 projects and $(($1 * 50)) documents (bench/sql/rls_data.sql)"
    psql_as postgres -v projects="$1" -c 'CREATE EXTENSION pulse' -f bench/sql/rls_data.sql \
        -c "SELECT pulse.grant_application_role('bench_app')" >/dev/null
    READER="$(value "SELECT user_id FROM users.users WHERE email = 'reader@bench.example'")"
    TOKEN="$(value "SELECT token FROM users.open_session(${READER})")"
    DOC="$(value "SELECT d.document_id FROM documents.documents d
        WHERE d.project_id = (SELECT min(project_id) FROM projects.project_member WHERE user_id = ${READER})
        ORDER BY d.document_id OFFSET 25 LIMIT 1")"
    READER_DOCS="$(value "SELECT array_agg(document_id ORDER BY document_id) FROM documents.documents
        WHERE project_id IN (SELECT project_id FROM projects.project_member WHERE user_id = ${READER})")"
}

# Microseconds per call of pulse.authenticate and the policy helpers, measured inside the
# server (bench/sql/identity_calls.sql); prints "name microseconds" lines. $1: calls.
helper_calls() {
    PGOPTIONS="-c bench.token=${TOKEN} -c bench.calls=$1" psql_as bench_app -f bench/sql/identity_calls.sql 2>&1 |
        awk '/NOTICE:  call / { print $(NF - 1), $NF }'
}
