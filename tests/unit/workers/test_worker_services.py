"""Each worker service: its role, prompt, settings, and the adapter to the run loop."""

from __future__ import annotations

import pytest

from podium_common.errors import UnexpectedEvent
from podium_common.events import TaskResult, TaskStatus
from podium_common.llm import LLM
from podium_common.topics import TaskType
from podium_common.worker_service import WorkerSettings, task_handler
from podium_worker_researcher import handler as researcher
from podium_worker_researcher.settings import Settings as ResearcherSettings
from podium_worker_specialist import handler as specialist
from podium_worker_specialist.settings import Settings as SpecialistSettings
from podium_worker_synthesizer import handler as synthesizer
from podium_worker_synthesizer.settings import Settings as SynthesizerSettings
from podium_worker_validator import handler as validator
from podium_worker_validator.settings import Settings as ValidatorSettings
from tests.unit.workers.fakes import FakeLLM, make_task

HANDLERS = {
    TaskType.RESEARCHER: researcher,
    TaskType.SPECIALIST: specialist,
    TaskType.VALIDATOR: validator,
    TaskType.SYNTHESIZER: synthesizer,
}
SETTINGS: dict[TaskType, type[WorkerSettings]] = {
    TaskType.RESEARCHER: ResearcherSettings,
    TaskType.SPECIALIST: SpecialistSettings,
    TaskType.VALIDATOR: ValidatorSettings,
    TaskType.SYNTHESIZER: SynthesizerSettings,
}


@pytest.mark.parametrize("task_type", list(TaskType))
async def test_each_worker_asks_with_its_roles_first_line(task_type):
    module = HANDLERS[task_type]
    reply = '{"passed": true, "feedback": ""}' if task_type is TaskType.VALIDATOR else "done"
    llm = FakeLLM(reply)
    result = await module.handle(make_task(task_type), llm, worker_id="w", model="m")
    assert result.status is TaskStatus.SUCCEEDED
    assert result.type is task_type
    system = llm.requests[0].messages[0].content
    assert system.splitlines()[0] == f"You are Podium's {task_type.value}."
    assert module.ROLE.task_type is task_type


@pytest.mark.parametrize(
    ("task_type", "model"),
    [
        (TaskType.RESEARCHER, "gpt-4o-mini"),
        (TaskType.SPECIALIST, "gpt-4o-mini"),
        (TaskType.VALIDATOR, "gpt-4o-mini"),
        (TaskType.SYNTHESIZER, "gpt-4o"),
    ],
)
def test_settings_defaults(task_type, model, monkeypatch):
    for name in ("PODIUM_MODEL", "PODIUM_MAX_IN_FLIGHT", "PODIUM_HEALTH_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = SETTINGS[task_type]()
    assert settings.model == model
    assert settings.max_in_flight == 256
    assert settings.health_port is None


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("PODIUM_MODEL", "llama-3.1-8b")
    monkeypatch.setenv("PODIUM_MAX_IN_FLIGHT", "8")
    monkeypatch.setenv("PODIUM_LLM__BASE_URL", "http://llm.internal/v1")
    monkeypatch.setenv("PODIUM_KAFKA__BOOTSTRAP_SERVERS", "kafka:9092")
    settings = ResearcherSettings()
    assert settings.model == "llama-3.1-8b"
    assert settings.max_in_flight == 8
    assert settings.llm.base_url == "http://llm.internal/v1"
    assert settings.kafka.bootstrap_servers == "kafka:9092"


def adapter(llm: LLM):
    return task_handler(
        TaskType.RESEARCHER, researcher.handle, llm=llm, worker_id="w-9", model="small"
    )


async def test_the_adapter_turns_a_task_into_its_result():
    task = make_task()
    [result] = await adapter(FakeLLM("facts"))(task)
    assert isinstance(result, TaskResult)
    assert (result.task_id, result.output, result.worker_id, result.model) == (
        task.task_id,
        "facts",
        "w-9",
        "small",
    )


async def test_the_adapter_refuses_a_task_of_another_type():
    llm = FakeLLM()
    with pytest.raises(UnexpectedEvent, match="worker-researcher takes only researcher tasks"):
        await adapter(llm)(make_task(TaskType.SPECIALIST))
    assert llm.requests == []


async def test_the_adapter_refuses_an_event_that_is_not_a_task():
    result = await researcher.handle(make_task(), FakeLLM(), worker_id="w", model="m")
    with pytest.raises(UnexpectedEvent):
        await adapter(FakeLLM())(result)
