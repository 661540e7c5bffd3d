"""The prompts every compared system sends the scripted LLM: Podium's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from podium_planner.prompts import SYSTEM as PLANNER
from podium_worker_researcher.prompts import SYSTEM as RESEARCHER
from podium_worker_specialist.prompts import SYSTEM as SPECIALIST
from podium_worker_synthesizer.prompts import SYSTEM as SYNTHESIZER
from podium_worker_validator.prompts import SYSTEM as VALIDATOR

__all__ = ["PLANNER", "SYSTEMS", "planner_prompt", "user_prompt"]

SYSTEMS = {
    "researcher": RESEARCHER,
    "specialist": SPECIALIST,
    "validator": VALIDATOR,
    "synthesizer": SYNTHESIZER,
}


def planner_prompt(goal: str, max_tasks: int = 8) -> str:
    return f"Most tasks: {max_tasks}\nGoal: {goal}"


def user_prompt(goal: str, task: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]]) -> str:
    """A task's user message: the goal, the task and its inputs' outputs."""
    sections = [f"Goal: {goal}", f"Task: {task['description']}"]
    sections += [f"Input {i['id']} ({i['type']}):\n{i['output']}" for i in inputs]
    return "\n\n".join(sections)


def final_task(goal: str) -> dict[str, Any]:
    """The synthesis every flow ends with."""
    return {"id": "final", "type": "synthesizer", "description": f"Final answer to: {goal}"}
