"""Builders of chat-completion requests as Podium's services send them."""

from __future__ import annotations

import json
from typing import Any

import httpx


def body(role: str | None, user: str, *, json_mode: bool = False) -> dict[str, Any]:
    messages = [{"role": "user", "content": user}]
    if role is not None:
        system = f"You are Podium's {role}.\nFollow the instructions."
        messages.insert(0, {"role": "system", "content": system})
    request: dict[str, Any] = {"model": "test-model", "messages": messages}
    if json_mode:
        request["response_format"] = {"type": "json_object"}
    return request


def planner(goal: str, most: int = 10) -> dict[str, Any]:
    return body("planner", f"Most tasks: {most}\nGoal: {goal}", json_mode=True)


def worker(role: str, task: str, inputs: dict[str, str], feedback: str = "") -> dict[str, Any]:
    """Sections as the workers' prompt contract lays them out."""
    sections = ["Goal: compare tea and coffee", f"Task: {task}"]
    sections += [f"Input {task_id} (researcher):\n{output}" for task_id, output in inputs.items()]
    if feedback:
        sections.append(f"Feedback:\n{feedback}")
    return body(role, "\n\n".join(sections), json_mode=role == "validator")


async def content(client: httpx.AsyncClient, request: dict[str, Any]) -> str:
    response = await client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.text
    text = response.json()["choices"][0]["message"]["content"]
    assert isinstance(text, str)
    return text


async def plan(client: httpx.AsyncClient, goal: str, most: int = 10) -> list[dict[str, Any]]:
    tasks = json.loads(await content(client, planner(goal, most)))["tasks"]
    assert isinstance(tasks, list)
    return tasks
