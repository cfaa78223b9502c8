-- A key's hourly window is leased to instances as a tenant's daily window is: an instance
-- reserves a lease of calls, spends it from memory, and gives back what it has not spent about
-- once a second. `rate_hourly.used` now counts the calls reserved, as `rate_daily.used` does.
-- keyhaven_take_hourly (one call at a time) stays: an instance of the version before this one,
-- running beside newer ones during an upgrade, counts its calls in the same rows.

-- Reserves up to p_want calls of the key's hourly window p_hour for one instance: never more
-- than a sixteenth of the room left (at least one call while there is room), none once the
-- limit is reached. granted: the calls reserved; total: the window's reserved calls after it.
-- The row stays locked until the calling statement commits, so racing instances reserve one
-- after the other.
CREATE FUNCTION keyhaven_lease_hourly(p_key TEXT, p_hour BIGINT, p_limit BIGINT, p_want BIGINT,
                                      OUT granted BIGINT, OUT total BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    h BIGINT;
    u BIGINT;
BEGIN
    -- Counters, not records (as keyhaven_take_hourly): no wait for a disk flush.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO rate_hourly (key_id, hour, used) VALUES (p_key, p_hour, 0)
        ON CONFLICT (key_id) DO NOTHING;
    SELECT r.hour, r.used INTO h, u FROM rate_hourly r WHERE r.key_id = p_key FOR UPDATE;
    IF h < p_hour THEN
        h := p_hour;
        u := 0;
    END IF;
    granted := LEAST(p_want, GREATEST(1, (p_limit - u) / 16), GREATEST(p_limit - u, 0));
    total := u + granted;
    UPDATE rate_hourly SET hour = h, used = total WHERE key_id = p_key;
END;
$$;
