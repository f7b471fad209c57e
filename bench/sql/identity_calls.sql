-- Per-call cost of pulse.authenticate and of the helpers every row-level security policy
-- calls once per statement, measured inside the server (no network): N calls in a PL/pgSQL
-- loop, minus the same loop around a trivial expression. Run as the application role with
-- bench.token set to a live session token and bench.calls to N; prints one NOTICE "call <name> <microseconds>"
-- per function. authenticate runs first, so the helpers answer for an authenticated caller.
DO $$
DECLARE
    n constant integer := current_setting('bench.calls')::integer;
    tok constant text := current_setting('bench.token');
    started timestamptz;
    empty_loop float8;
BEGIN
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM length(tok);
    END LOOP;
    empty_loop := extract(epoch FROM clock_timestamp() - started);
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM pulse.authenticate(tok);
    END LOOP;
    RAISE NOTICE 'call pulse.authenticate %', round(((extract(epoch FROM clock_timestamp() - started) - empty_loop) * 1e6 / n)::numeric, 2);
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM pulse.current_user_id();
    END LOOP;
    RAISE NOTICE 'call pulse.current_user_id %', round(((extract(epoch FROM clock_timestamp() - started) - empty_loop) * 1e6 / n)::numeric, 2);
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM pulse.caller_project_ids('read');
    END LOOP;
    RAISE NOTICE 'call pulse.caller_project_ids %', round(((extract(epoch FROM clock_timestamp() - started) - empty_loop) * 1e6 / n)::numeric, 2);
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM pulse.caller_all_projects_from('read');
    END LOOP;
    RAISE NOTICE 'call pulse.caller_all_projects_from %', round(((extract(epoch FROM clock_timestamp() - started) - empty_loop) * 1e6 / n)::numeric, 2);
    started := clock_timestamp();
    FOR i IN 1..n LOOP
        PERFORM pulse.caller_is_auditor();
    END LOOP;
    RAISE NOTICE 'call pulse.caller_is_auditor %', round(((extract(epoch FROM clock_timestamp() - started) - empty_loop) * 1e6 / n)::numeric, 2);
END
$$;
