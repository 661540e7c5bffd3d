-- Tokens per tenant and model, over every run of every goal: the planner's and every task
-- attempt's (retried attempts included: they were spent). Cost is priced from these
-- at read time (podium_common.prices), never stored: prices change, tokens do not.
CREATE VIEW tenant_usage AS
SELECT tenant, model,
       sum(prompt_tokens)::bigint AS prompt_tokens,
       sum(completion_tokens)::bigint AS completion_tokens
FROM (
    SELECT g.tenant, g.plan->>'model' AS model,
           COALESCE(g.planning_prompt_tokens, 0) AS prompt_tokens,
           COALESCE(g.planning_completion_tokens, 0) AS completion_tokens
    FROM goals AS g
    WHERE g.planning_prompt_tokens IS NOT NULL OR g.planning_completion_tokens IS NOT NULL
    UNION ALL
    SELECT g.tenant, a.model,
           COALESCE(a.prompt_tokens, 0), COALESCE(a.completion_tokens, 0)
    FROM task_attempts AS a
    JOIN goals AS g ON g.goal_id = a.goal_id AND g.run = a.run
    WHERE a.prompt_tokens IS NOT NULL OR a.completion_tokens IS NOT NULL
) AS spent
GROUP BY tenant, model;
