-- Baseline of the history suite: the transaction around every history read (authenticate
-- only), subtracted from each read's latency in the same round.
BEGIN;
SELECT pulse.authenticate(:token);
END;
