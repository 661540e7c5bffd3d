"""The LangGraph comparison: the same goal flow as one LangGraph graph in one process.

plan → a `Send` to the researcher node for each independent task of the plan → the
specialist node (the plan's dependent tasks, in order) → the synthesis node. Every node is
async and asks the same scripted LLM, with Podium's prompts, through the OpenAI SDK on the
transport Podium's services use (aiohttp). No checkpointer: nothing is durable, which makes
it the in-process floor for orchestration overhead.
"""

from __future__ import annotations

import json
import operator
import time
from typing import Annotated, Any, TypedDict

import httpx2
import openai
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from bench.prompts import PLANNER, SYSTEMS, final_task, planner_prompt, user_prompt


class Output(TypedDict):
    id: str
    type: str
    output: str
    llm_ms: float  # the LLM time on this output's path


class GoalState(TypedDict, total=False):
    goal: str
    tasks: list[dict[str, Any]]
    planning_ms: float
    research: Annotated[list[Output], operator.add]
    specialist: Output
    answer: Output


class ResearchInput(TypedDict):
    goal: str
    task: dict[str, Any]


class Flow:
    """The compiled graph and its LLM client; `run` takes a goal to its answer."""

    def __init__(self, llm_url: str, max_connections: int = 4096) -> None:
        limits = httpx2.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        # The SDK's own retries (2 by default): an idle keep-alive connection the server
        # closed as it was reused is retried, as a LangGraph application would have it.
        self._client = openai.AsyncOpenAI(
            base_url=llm_url,
            api_key="scripted",
            timeout=30,
            http_client=openai.DefaultAioHttpClient(limits=limits, timeout=30),
        )
        graph = StateGraph(GoalState)
        graph.add_node("plan", self._plan)
        graph.add_node("research", self._research)
        graph.add_node("specialist", self._specialist)
        graph.add_node("synthesis", self._synthesis)
        graph.add_edge(START, "plan")
        graph.add_conditional_edges("plan", self._fan_out, ["research"])
        graph.add_edge("research", "specialist")
        graph.add_edge("specialist", "synthesis")
        graph.add_edge("synthesis", END)
        self._graph = graph.compile()

    async def close(self) -> None:
        await self._client.close()

    async def run(self, goal: str) -> tuple[str, float]:
        """The final answer and the LLM time on the critical path (ms)."""
        state = await self._graph.ainvoke({"goal": goal})
        answer: Output = state["answer"]
        return answer["output"], state["planning_ms"] + answer["llm_ms"]

    async def _ask(self, system: str, user: str, *, json_reply: bool = False) -> tuple[str, float]:
        started = time.perf_counter()
        completion = await self._client.chat.completions.create(
            model="scripted",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format={"type": "json_object"} if json_reply else openai.omit,
        )
        return completion.choices[0].message.content or "", (time.perf_counter() - started) * 1000

    async def _plan(self, state: GoalState) -> dict[str, Any]:
        goal = state["goal"]
        reply, ms = await self._ask(PLANNER, planner_prompt(goal), json_reply=True)
        return {"tasks": json.loads(reply)["tasks"], "planning_ms": ms}

    def _fan_out(self, state: GoalState) -> list[Send]:
        first = [t for t in state["tasks"] if not t["depends_on"]]
        return [Send("research", {"goal": state["goal"], "task": t}) for t in first]

    async def _work(self, goal: str, task: dict[str, Any], inputs: list[Output]) -> Output:
        output, ms = await self._ask(SYSTEMS[task["type"]], user_prompt(goal, task, inputs))
        before = max((i["llm_ms"] for i in inputs), default=0.0)
        return {"id": task["id"], "type": task["type"], "output": output, "llm_ms": before + ms}

    async def _research(self, state: ResearchInput) -> dict[str, Any]:
        return {"research": [await self._work(state["goal"], state["task"], [])]}

    async def _specialist(self, state: GoalState) -> dict[str, Any]:
        inputs: list[Output] = list(state["research"])
        for task in (t for t in state["tasks"] if t["depends_on"]):
            inputs = [await self._work(state["goal"], task, inputs)]
        return {"specialist": inputs[0]}

    async def _synthesis(self, state: GoalState) -> dict[str, Any]:
        goal = state["goal"]
        return {"answer": await self._work(goal, final_task(goal), [state["specialist"]])}
