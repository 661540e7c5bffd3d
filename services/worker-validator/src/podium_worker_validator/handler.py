"""tasks.validator → results: checks task outputs against requirements and returns a verdict."""

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from podium_common.errors import LLMMalformed
from podium_common.events import TaskAssigned, TaskResult, Verdict
from podium_common.llm import LLM
from podium_common.structured import parse_reply, schema_of
from podium_common.topics import TaskType
from podium_common.worker import Outcome, WorkerRole, run_task
from podium_worker_validator.prompts import SYSTEM

VERDICT_SHAPE = '{"passed": true|false, "feedback": "..."}'


class _Reply(BaseModel):
    # Extra keys are harmless; a missing or non-boolean `passed` is not.
    model_config = ConfigDict(extra="ignore")

    passed: StrictBool
    feedback: str | None = None


def parse_verdict(reply: str) -> Outcome:
    """The validator's JSON verdict; any other reply is malformed, and asked for again."""
    try:
        parsed = parse_reply(_Reply, reply)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc'])) or 'reply'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise LLMMalformed(f"it is not JSON of the shape {VERDICT_SHAPE} ({problems})") from error
    verdict = Verdict(passed=parsed.passed, feedback=(parsed.feedback or "").strip())
    summary = "Passed" if verdict.passed else "Failed"
    return Outcome(
        output=f"{summary}: {verdict.feedback}" if verdict.feedback else summary,
        verdict=verdict,
    )


ROLE = WorkerRole(
    task_type=TaskType.VALIDATOR,
    system_prompt=SYSTEM,
    json_output=True,
    schema=schema_of(_Reply),
    parse=parse_verdict,
    temperature=0.0,
)


async def handle(task: TaskAssigned, llm: LLM, *, worker_id: str, model: str) -> TaskResult:
    """Checks the inputs against the task's requirements; the result carries the verdict."""
    return await run_task(task, llm=llm, role=ROLE, worker_id=worker_id, model=model)
