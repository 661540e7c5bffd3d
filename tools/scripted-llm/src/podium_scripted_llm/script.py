"""Deterministic answers: the role comes from the system message's first line, the answer
from the request alone, so the same request always gets the same answer."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from podium_scripted_llm import plan
from podium_scripted_llm.protocol import ChatRequest

ROLES = ("planner", "researcher", "specialist", "validator", "synthesizer")
OTHER = "other"
REJECT_ONCE = "[reject-once]"
REVISED = "Revised after Feedback:"
_ROLE_LINE = re.compile(r"^You are Podium's (\w+)\.")
_TASK = re.compile(r"^[ \t]*Task:(.*)$", re.MULTILINE)
_INPUT = re.compile(r"^\s*Input (\S+) \((\w+)\):\s*(.*)$")
_FEEDBACK = re.compile(r"^[ \t]*Feedback:(.*)$", re.MULTILINE)
# A task the scripted planner marks for delegation (`[delegate=N]` in the goal): N levels.
_SPLIT = re.compile(r"\s*\[split=(\d+)\]")
# What a worker is told when it may answer with a sub-plan.
_MOST_SUBTASKS = re.compile(r"Most subtasks:\s*(\d+)")


class Refused(Exception):
    """The request carries `[always-fail]`: the server answers 400."""


@dataclass(frozen=True)
class Input:
    task_id: str
    kind: str
    first_line: str
    revised: bool = False  # the input was redone after feedback (it says so)


def role_of(request: ChatRequest) -> str:
    for message in request.messages:
        if message.role in {"system", "developer"}:
            lines = message.text.strip().splitlines()
            match = _ROLE_LINE.match(lines[0]) if lines else None
            if match and match.group(1) in ROLES:
                return match.group(1)
            return OTHER
    return OTHER


def user_text(request: ChatRequest) -> str:
    return "\n".join(m.text for m in request.messages if m.role == "user")


def goal_message(request: ChatRequest) -> str:
    """The first user message that states the goal: re-asks after it leave the goal alone."""
    users = [m.text for m in request.messages if m.role == "user"]
    return next((text for text in users if "Goal:" in text), users[0] if users else "")


def inputs_of(text: str) -> list[Input]:
    """The `Input <task_id> (<type>):` sections, each with its first line of content."""
    lines = text.splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _INPUT.match(line)
        if not match:
            continue
        first = match.group(3).strip()
        rest = (candidate.strip() for candidate in lines[index + 1 :])
        if not first:
            first = next((candidate for candidate in rest if candidate), "")
            if _INPUT.match(first) or _FEEDBACK.match(first):
                first = ""
        section = []
        for candidate in lines[index + 1 :]:
            if _INPUT.match(candidate) or _FEEDBACK.match(candidate):
                break
            section.append(candidate)
        revised = any(REVISED in candidate for candidate in [line, *section])
        found.append(Input(match.group(1), match.group(2), first, revised))
    return found


def _field(pattern: re.Pattern[str], text: str) -> str:
    """A labelled field's value: the rest of its line, or else the next non-empty line."""
    match = pattern.search(text)
    if match is None:
        return ""
    following = (line.strip() for line in text[match.end() :].splitlines())
    return match.group(1).strip() or next((line for line in following if line), "")


def work(role: str, text: str) -> str:
    """A researcher's or specialist's answer: names the task and counts its inputs."""
    task = _field(_TASK, text) or "(no task given)"
    inputs = inputs_of(text)
    used = f"Based on {len(inputs)} input(s)"
    used += f": {', '.join(i.task_id for i in inputs)}." if inputs else "."
    lines = [f"{role.capitalize()} result for task: {task}", used]
    if _FEEDBACK.search(text):
        lines.append(f"{REVISED} {_field(_FEEDBACK, text) or '(none given)'}")
    return "\n".join(lines)


def subplan(everything: str, text: str) -> str | None:
    """A sub-plan of two tasks in place of an answer, for a task marked `[split=N]` that is
    offered delegation (`Most subtasks:` of at least 2); its first task is marked
    `[split=N-1]`, so N levels of sub-plans unfold. None: answer as usual."""
    task = _field(_TASK, text)
    split = _SPLIT.search(task)
    offered = _MOST_SUBTASKS.search(everything)
    if split is None or offered is None or int(offered.group(1)) < 2:
        return None
    topic = _SPLIT.sub("", task).strip()
    deeper = int(split.group(1)) - 1
    first = f"Research the first part of: {topic}" + (f" [split={deeper}]" if deeper else "")
    tasks = [
        plan.task_shape("s1", "researcher", first, ["one part"], []),
        plan.task_shape("s2", "specialist", f"Complete the work on: {topic}", [], ["s1"]),
    ]
    return json.dumps({"tasks": tasks})


def synthesize(text: str) -> str:
    inputs = inputs_of(text)
    if not inputs:
        return f"Answer: {_field(_TASK, text) or plan.clean(plan.goal_of(text))}\nNo inputs."
    combined = " | ".join(
        (i.first_line or f"({i.task_id} was empty)") + (" (revised)" if i.revised else "")
        for i in inputs
    )
    return f"Answer: {combined}\nSynthesized from {len(inputs)} input(s)."


def verdict(text: str) -> str:
    """Passes, unless `[reject-once]` is present and no feedback was given yet (neither a
    `Feedback:` section nor an input revised after feedback)."""
    if REJECT_ONCE in text and "Feedback:" not in text:
        feedback = "Scripted rejection: revise the answer once and say what changed."
        return json.dumps({"passed": False, "feedback": feedback})
    return json.dumps({"passed": True, "feedback": ""})


def generic(request: ChatRequest) -> str:
    last = " ".join(request.messages[-1].text.split())[:80]
    reply = f"Scripted reply to {len(request.messages)} message(s); the last begins: {last}"
    return json.dumps({"reply": reply}) if request.json_mode else reply


def respond(role: str, request: ChatRequest) -> str:
    """The answer's content; raises `Refused` for `[always-fail]`."""
    if plan.ALWAYS_FAIL in request.text:
        raise Refused(f"the request contains {plan.ALWAYS_FAIL}")
    text = user_text(request)
    if role == "planner":
        return plan.plan(goal_message(request))
    if role in {"researcher", "specialist"}:
        return subplan(request.text, text) or work(role, text)
    if role == "synthesizer":
        return synthesize(text)
    if role == "validator":
        return verdict(text)
    return generic(request)
