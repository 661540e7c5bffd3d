-- Agents that delegate and wait for people: the task tree, the sub-plans attempts answered
-- with, and approvals with their decisions. Projections stay upserts that commute.

-- The tree: a sub-plan's task names the task it belongs to and is one deeper (0: the plan's).
ALTER TABLE tasks ADD COLUMN parent_id text, ADD COLUMN depth integer NOT NULL DEFAULT 0;
CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;

-- An attempt that answered with a sub-plan: its tasks' ids, and the synthesis whose output
-- becomes the task's output.
ALTER TABLE task_attempts ADD COLUMN subtasks jsonb, ADD COLUMN synthesis_id text;

-- What waits (or waited) for a person: one row per request, a task's rounds apart.
CREATE TABLE approvals (
    task_id      text NOT NULL,
    round        integer NOT NULL,
    goal_id      uuid NOT NULL,
    run          integer NOT NULL,
    type         text NOT NULL,
    stage        text NOT NULL CHECK (stage IN ('before', 'after')),
    shown        text NOT NULL,
    digest       text NOT NULL,
    requested_at timestamptz NOT NULL,
    timeout_at   timestamptz NOT NULL,
    PRIMARY KEY (task_id, round)
);
CREATE INDEX approvals_goal ON approvals (goal_id, run);

-- Every decision as it was sent, whether or not it applied (keyed by its event id).
CREATE TABLE approval_decisions (
    event_id   uuid PRIMARY KEY,
    task_id    text NOT NULL,
    round      integer NOT NULL,
    goal_id    uuid NOT NULL,
    run        integer NOT NULL,
    digest     text NOT NULL,
    approved   boolean NOT NULL,
    comment    text NOT NULL,
    decided_by text NOT NULL,
    decided_at timestamptz NOT NULL
);
CREATE INDEX approval_decisions_task ON approval_decisions (task_id, round);

-- Each request with the decision that applies to it, if any: the first of its round that
-- names its digest (the aggregator applies that one and ignores the rest).
CREATE VIEW approval_states AS
SELECT r.task_id, r.round, r.goal_id, r.run, r.type, r.stage, r.shown, r.digest,
       r.requested_at, r.timeout_at,
       d.approved, d.comment, d.decided_by, d.decided_at
FROM approvals AS r
LEFT JOIN LATERAL (
    SELECT d.approved, d.comment, d.decided_by, d.decided_at FROM approval_decisions AS d
    WHERE d.task_id = r.task_id AND d.round = r.round AND d.digest = r.digest
    ORDER BY d.decided_at, d.event_id LIMIT 1
) AS d ON true;

-- task_states as before, with the tree: a task whose latest finished attempt delegated is
-- `delegated` until its sub-plan's synthesis succeeds; then it is `succeeded`, with the
-- synthesis's output as its own.
CREATE OR REPLACE VIEW task_states AS
SELECT
    t.task_id, t.goal_id, t.run, t.type, t.description, t.requirements, t.depends_on,
    t.final, t.position,
    COALESCE(latest.attempt, 0) AS attempts,
    CASE
        WHEN latest.attempt IS NULL THEN 'pending'
        WHEN latest.status IS NULL THEN 'dispatched'
        WHEN latest.synthesis_id IS NOT NULL AND latest.status = 'succeeded' THEN
            CASE WHEN synthesis.status = 'succeeded' THEN 'succeeded' ELSE 'delegated' END
        ELSE latest.status
    END AS status,
    CASE WHEN finished.synthesis_id IS NOT NULL THEN synthesis.output ELSE finished.output END
        AS output,
    finished.verdict, finished.error, finished.latency_ms,
    COALESCE(finished.model, latest.model) AS model,
    COALESCE(usage.prompt_tokens, 0) AS prompt_tokens,
    COALESCE(usage.completion_tokens, 0) AS completion_tokens,
    t.parent_id, t.depth, finished.subtasks
FROM tasks AS t
LEFT JOIN LATERAL (
    SELECT a.attempt, a.status, a.model, a.synthesis_id FROM task_attempts AS a
    WHERE a.task_id = t.task_id ORDER BY a.attempt DESC LIMIT 1
) AS latest ON true
LEFT JOIN LATERAL (
    SELECT a.output, a.verdict, a.error, a.latency_ms, a.model, a.subtasks, a.synthesis_id
    FROM task_attempts AS a
    WHERE a.task_id = t.task_id AND a.status IS NOT NULL ORDER BY a.attempt DESC LIMIT 1
) AS finished ON true
LEFT JOIN LATERAL (
    SELECT a.status, a.output FROM task_attempts AS a
    WHERE a.task_id = finished.synthesis_id AND a.status IS NOT NULL
    ORDER BY a.attempt DESC LIMIT 1
) AS synthesis ON true
LEFT JOIN LATERAL (
    SELECT sum(a.prompt_tokens)::bigint AS prompt_tokens,
           sum(a.completion_tokens)::bigint AS completion_tokens
    FROM task_attempts AS a WHERE a.task_id = t.task_id
) AS usage ON true;
