"""`podium run`'s questions at a terminal: what a task waits for is shown, and the person's
answer goes to the gateway bound to the digest of what they saw (a decision on something
that changed since is refused, not applied)."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from podium_cli.gateway import Gateway, GatewayError
from podium_cli.progress import Goal
from podium_common.events import local_task_id

# The most of what a task waits for that is shown in full; the rest is cut, with a note.
SHOWN_LIMIT = 4000
QUESTION = "  approve? [y]es, [n]o, or Enter to decide elsewhere: "
WHY = (
    "  why? (the task is redone once with this as feedback; "
    "Enter: no reason, which fails the goal): "
)


def person() -> str:
    """Who decides, when not told: the login name."""
    return os.environ.get("USER") or "anonymous"


def from_terminal(question: str) -> str:
    """A line typed in answer to `question`, which goes to stderr: stdout carries only the
    goal's answer. Raises EOFError when input has ended."""
    sys.stderr.write(question)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def shown(text: str | None) -> str:
    """What a task waits for, indented under its question, cut at `SHOWN_LIMIT`."""
    text = text or "(nothing shown)"
    cut = len(text) - SHOWN_LIMIT
    if cut > 0:
        text = f"{text[:SHOWN_LIMIT]}\n… {cut} more characters: `podium get` shows them all"
    return textwrap.indent(text, "    | ", lambda line: True)


@dataclass
class Asker:
    """Asks about each request for a decision as `follow` meets it. Input that ends (not a
    terminal any more, Ctrl-D) ends the questions: the rest are decided elsewhere."""

    gateway: Gateway
    write: Callable[[str], None]
    read: Callable[[str], str] = from_terminal
    by: str = ""
    ended: bool = False

    def __call__(self, goal: Goal, approval: Goal) -> None:
        if self.ended:
            return
        task = f"{local_task_id(approval['task_id'])} ({approval.get('type')})"
        what = "input" if approval.get("stage") == "before" else "output"
        self.write(f"  {task} waits for your approval of its {what}:")
        self.write(shown(approval.get("shown")))
        decided = self._decision()
        if decided is None:
            return
        decision, comment = decided
        try:
            self.gateway.decide(
                goal["goal_id"],
                approval["task_id"],
                decision,
                comment,
                self.by or person(),
                digest=approval.get("digest"),
            )
        except GatewayError as error:  # decided elsewhere meanwhile, or changed since shown
            self.write(f"  not recorded: {error}")
            return
        self.write(f"  {task} {'approved' if decision == 'approve' else 'rejected'}")

    def _decision(self) -> tuple[str, str] | None:
        """("approve" | "reject", comment), or None: decided elsewhere."""
        while True:
            answer = self._ask(QUESTION)
            if answer is None or answer == "":
                return None
            if answer.lower() in ("y", "yes"):
                return "approve", ""
            if answer.lower() in ("n", "no"):
                return "reject", self._ask(WHY) or ""
            self.write(f"  {answer!r} is not an answer: y, n, or Enter")

    def _ask(self, question: str) -> str | None:
        try:
            return self.read(question).strip()
        except EOFError:
            self.ended = True
            return None
