-- Each queue's dead jobs, kept up as jobs enter and leave the dead state, so the queue
-- stats (GET /v1/queues, the leader's metrics every 2 s, the minute roll-up, the event
-- stream) read a few rows instead of counting every dead job: 1.5 % dead is 150,000
-- rows at ten million jobs. A change appends a delta rather than updating a total, so
-- no transaction waits on another's counter row; the leader folds the deltas into the
-- totals (jobq_worker duties, roll_up) and a count is the total plus what is not folded yet.
CREATE TABLE jobq_dead_counts (
    queue  text PRIMARY KEY,
    dead   bigint NOT NULL
);

CREATE TABLE jobq_dead_deltas (
    queue  text NOT NULL,
    delta  integer NOT NULL
);

CREATE FUNCTION jobq_dead_by_queue() RETURNS TABLE (queue text, dead bigint) LANGUAGE sql STABLE AS $$
    SELECT queue, sum(dead)::bigint FROM (
        SELECT queue, dead FROM jobq_dead_counts
        UNION ALL
        SELECT queue, delta FROM jobq_dead_deltas
    ) AS parts
    GROUP BY queue
$$;

CREATE FUNCTION jobq_count_dead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'dead' THEN
        INSERT INTO jobq_dead_deltas (queue, delta) VALUES (OLD.queue, -1);
    END IF;
    IF NEW.status = 'dead' THEN
        INSERT INTO jobq_dead_deltas (queue, delta) VALUES (NEW.queue, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION jobq_count_dead_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobq_dead_deltas (queue, delta)
    SELECT queue, -count(*) FROM deleted WHERE status = 'dead' GROUP BY queue;
    RETURN NULL;
END;
$$;

CREATE FUNCTION jobq_reset_dead_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobq_dead_deltas;
    DELETE FROM jobq_dead_counts;
    RETURN NULL;
END;
$$;

-- The WHEN conditions are checked without calling the function: a job that never dies
-- costs nothing here. Deletes (pruning, many rows at once) add one delta per queue per statement.
CREATE TRIGGER jobq_jobs_dead_inserted AFTER INSERT ON jobq_jobs
    FOR EACH ROW WHEN (NEW.status = 'dead') EXECUTE FUNCTION jobq_count_dead();
CREATE TRIGGER jobq_jobs_dead_changed AFTER UPDATE OF status, queue ON jobq_jobs
    FOR EACH ROW WHEN ((OLD.status = 'dead' OR NEW.status = 'dead')
                       AND (OLD.status, OLD.queue) IS DISTINCT FROM (NEW.status, NEW.queue))
    EXECUTE FUNCTION jobq_count_dead();
CREATE TRIGGER jobq_jobs_dead_deleted AFTER DELETE ON jobq_jobs
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION jobq_count_dead_deleted();
CREATE TRIGGER jobq_jobs_truncated AFTER TRUNCATE ON jobq_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobq_reset_dead_counts();

-- Counted once the triggers exist, in the same transaction: CREATE TRIGGER's lock waits
-- for writers in flight and holds new ones until this commits, so no death is missed or
-- counted twice.
INSERT INTO jobq_dead_counts (queue, dead)
SELECT queue, count(*) FROM jobq_jobs WHERE status = 'dead' GROUP BY queue;
