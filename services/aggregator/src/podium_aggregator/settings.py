"""The aggregator's settings: `PODIUM_` environment variables, nested with `__`."""

from __future__ import annotations

from pydantic import Field, field_validator

from podium_aggregator.state import Limits
from podium_common.events import DEFAULT_DEADLINE_S, OnTimeout
from podium_common.settings import BaseServiceSettings, service_config


class AggregatorSettings(BaseServiceSettings):
    model_config = service_config()

    # Attempts a task gets while it keeps failing, the first one included.
    max_task_attempts: int = Field(default=2, ge=1, le=10)
    # Times a failing validation sends the checked tasks back before its verdict is accepted.
    max_validation_rounds: int = Field(default=2, ge=0, le=10)
    # A goal's deadline, from its submission, when its options name none (PODIUM_DEADLINE_S,
    # the same variable the planner reads).
    deadline_s: int = Field(default=DEFAULT_DEADLINE_S, ge=1)
    # How long an ended goal stays in the table (late events find it ended), then a tombstone.
    retention_s: float = Field(default=3600, gt=0)
    # How long results wait for a goal whose submission and plan never arrive.
    unplanned_ttl_s: float = Field(default=3600, gt=0)
    # The most tasks a goal may have, its sub-plans' included, when its options name none
    # (PODIUM_MAX_TASKS, the same variable the planner reads).
    max_tasks: int = Field(default=8, ge=1, le=100)
    # How deep tasks may delegate when a goal's options do not say (0: never).
    max_depth: int = Field(default=2, ge=0, le=5)
    # How long an approval waits when a goal's options do not say, then `fail` the goal or
    # `reject` the task; and whether the goal's deadline runs on meanwhile (it stands).
    approval_timeout_s: int = Field(default=86400, ge=1)
    on_approval_timeout: OnTimeout = "fail"
    deadline_counts_approval_wait: bool = False
    # Whether a sub-plan's own `requires_approval` makes a task wait for a person
    # (PODIUM_PLAN_APPROVALS, which the planner reads for plans too).
    plan_approvals: bool = True
    # Records fetched ahead of the agent (faust's stream buffer), and the most in one batch.
    max_in_flight: int = Field(default=256, ge=1)
    # Where the goal table lives: in memory, rebuilt from its changelog at each start (the
    # one store offered; see `_memory_only`).
    store: str = "memory://"
    # Where faust keeps its local data; relative to the working directory.
    data_dir: str = ".dev/aggregator"
    # How long faust waits after a rebalance before it recovers the table: a longer wait
    # rides out a burst of rebalances (replicas starting together) in one recovery.
    recovery_delay_s: float = Field(default=0.5, ge=0)
    # A partition with records waiting, none of which reached the agent for this long, is
    # fetched again from the next record the agent must handle.
    stall_s: float = Field(default=5.0, gt=0)
    # How often goals are checked against their deadlines.
    tick_interval_s: float = Field(default=1.0, gt=0)
    # How long a goal's new state may wait to be written to the table's changelog once the
    # events of the records that changed it are published: the records of this interval
    # share one write per goal, and are acknowledged (then committed) only once it is done.
    # 0 writes after every batch.
    store_interval_s: float = Field(default=0.05, ge=0, le=5)

    @field_validator("store")
    @classmethod
    def _memory_only(cls, store: str) -> str:
        """faust's RocksDB store writes only inside a record's handling (it takes the
        partition from the current event), while the aggregator writes its goal states in
        batches after publishing their events, outside any: the first store would stop the
        process. Refused here, by name, rather than at the first goal."""
        if store != "memory://":
            raise ValueError(
                f"PODIUM_STORE={store!r} is not supported: the goal table is kept in memory"
                " (memory://) and rebuilt from its changelog topic at each start"
            )
        return store

    def limits(self) -> Limits:
        return Limits(
            max_task_attempts=self.max_task_attempts,
            max_validation_rounds=self.max_validation_rounds,
            deadline_s=self.deadline_s,
            retention_s=self.retention_s,
            unplanned_ttl_s=self.unplanned_ttl_s,
            max_tasks=self.max_tasks,
            max_depth=self.max_depth,
            approval_timeout_s=self.approval_timeout_s,
            on_approval_timeout=self.on_approval_timeout,
            deadline_counts_approval_wait=self.deadline_counts_approval_wait,
            plan_approvals=self.plan_approvals,
        )
