-- The read model: every event as recorded, and the goals, tasks and attempts projected
-- from them. Projections are upserts that give the same rows in any arrival order.

-- Every event of every topic, once (keyed by its deterministic id).
CREATE TABLE events (
    event_id    uuid PRIMARY KEY,
    -- Recording order: the progress stream's cursor.
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    goal_id     uuid NOT NULL,
    run         integer NOT NULL,
    type        text NOT NULL,
    topic       text NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL
);
CREATE INDEX events_goal_seq ON events (goal_id, run, seq);
CREATE INDEX events_type ON events (type, occurred_at);

-- One row per run of a goal. `status_rank` only ever grows, so an event that arrives
-- late never moves a goal backwards: queued 0 < planning 1 < running 2 <
-- plan rejected 3 < completed/failed 4 (the goal's outcome has the last word).
CREATE TABLE goals (
    goal_id                    uuid NOT NULL,
    run                        integer NOT NULL,
    -- First-seen order: the list's cursor.
    seq                        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    goal                       text,
    submitter                  text,
    tenant                     text,
    options                    jsonb,
    status                     text NOT NULL
        CHECK (status IN ('queued', 'planning', 'running', 'completed', 'failed')),
    status_rank                smallint NOT NULL,
    reason_kind                text,
    reason_message             text,
    plan                       jsonb,
    deadline                   timestamptz,
    planning_prompt_tokens     integer,
    planning_completion_tokens integer,
    output                     text,
    outcome_totals             jsonb,
    submitted_at               timestamptz,
    updated_at                 timestamptz NOT NULL,
    completed_at               timestamptz,
    PRIMARY KEY (goal_id, run)
);
CREATE INDEX goals_status_seq ON goals (status, seq);

-- What a task is: from the plan, or from its assignments and results when they come first.
CREATE TABLE tasks (
    task_id      text PRIMARY KEY,
    goal_id      uuid NOT NULL,
    run          integer NOT NULL,
    type         text NOT NULL,
    description  text,
    requirements jsonb,
    depends_on   jsonb,
    final        boolean NOT NULL DEFAULT false,
    -- Index in the plan; NULL for tasks the plan does not list (the final synthesis).
    position     integer
);
CREATE INDEX tasks_goal ON tasks (goal_id, run);

-- One row per attempt: its assignment and its result, in whichever order they arrive.
CREATE TABLE task_attempts (
    task_id           text NOT NULL,
    attempt           integer NOT NULL,
    goal_id           uuid NOT NULL,
    run               integer NOT NULL,
    assigned_at       timestamptz,
    feedback          text,
    -- NULL while dispatched.
    status            text CHECK (status IN ('succeeded', 'failed')),
    output            text,
    verdict           jsonb,
    error             jsonb,
    model             text,
    prompt_tokens     integer,
    completion_tokens integer,
    latency_ms        integer,
    worker_id         text,
    finished_at       timestamptz,
    PRIMARY KEY (task_id, attempt)
);
CREATE INDEX task_attempts_goal ON task_attempts (goal_id, run);

-- A task's state, derived from its attempts: pending without one, dispatched while its
-- latest attempt has no result; output and verdict from the latest attempt that has one;
-- tokens summed over every attempt.
CREATE VIEW task_states AS
SELECT
    t.task_id, t.goal_id, t.run, t.type, t.description, t.requirements, t.depends_on,
    t.final, t.position,
    COALESCE(latest.attempt, 0) AS attempts,
    CASE
        WHEN latest.attempt IS NULL THEN 'pending'
        WHEN latest.status IS NULL THEN 'dispatched'
        ELSE latest.status
    END AS status,
    finished.output, finished.verdict, finished.error, finished.latency_ms,
    COALESCE(finished.model, latest.model) AS model,
    COALESCE(usage.prompt_tokens, 0) AS prompt_tokens,
    COALESCE(usage.completion_tokens, 0) AS completion_tokens
FROM tasks AS t
LEFT JOIN LATERAL (
    SELECT a.attempt, a.status, a.model FROM task_attempts AS a
    WHERE a.task_id = t.task_id ORDER BY a.attempt DESC LIMIT 1
) AS latest ON true
LEFT JOIN LATERAL (
    SELECT a.output, a.verdict, a.error, a.latency_ms, a.model FROM task_attempts AS a
    WHERE a.task_id = t.task_id AND a.status IS NOT NULL ORDER BY a.attempt DESC LIMIT 1
) AS finished ON true
LEFT JOIN LATERAL (
    SELECT sum(a.prompt_tokens)::bigint AS prompt_tokens,
           sum(a.completion_tokens)::bigint AS completion_tokens
    FROM task_attempts AS a WHERE a.task_id = t.task_id
) AS usage ON true;
