"""The table `make bench` prints, from the figures results.json holds."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

# The scripted LLM's process: its CPU per goal is not Podium's.
LLM = "scripted-llm"
# The systems the capacity scenario compares, in the order it measures them.
CAPACITY_SYSTEMS = ("podium", "celery", "langgraph")


def _row(name: str, value: object, goal: str = "") -> str:
    return f"{name:<44} {value!s:>22}   {goal}"


def headline(figures: dict[str, Any]) -> dict[str, Any]:
    """capacity_goals_per_s, capacity_ratio_vs_celery, overhead_ms_p50 and goals_lost."""
    systems = [
        name for name in CAPACITY_SYSTEMS if name in figures and "failed" not in figures[name]
    ]
    latencies = list(figures["p99_limit_ms"])
    capacity = {
        name: {at: figures[name].get(at, {}).get("goals_per_s") for at in latencies}
        for name in systems
    }
    ratio: dict[str, float | None] = {}
    for at in latencies:
        ours, theirs = capacity.get("podium", {}).get(at), capacity.get("celery", {}).get(at)
        ratio[at] = round(ours / theirs, 2) if ours and theirs else None
    overhead = {
        name: ((figures[name].get("overhead") or {}).get("overhead_ms") or {}).get("p50")
        for name in systems
    }
    lost = {name: figures[name].get("goals_lost") for name in systems}
    return {
        "capacity_goals_per_s": capacity,
        "capacity_ratio_vs_celery": ratio,
        "overhead_ms_p50": overhead,
        "goals_lost": lost,
    }


def services_cpu(pipeline: dict[str, Any]) -> float:
    """CPU-s per goal of Podium's own services: every process measured but the LLM's."""
    per_service: dict[str, float] = pipeline["cpu_s_per_goal"]
    return round(sum(cpu for name, cpu in per_service.items() if name != LLM), 5)


def backlog_ratio(pipeline: dict[str, Any]) -> dict[str, float] | None:
    """CPU per goal with the deep backlog over that with the first closed loop's: Podium's
    services (target 4), and the scripted LLM, whose work per goal is fixed (its ratio is
    how much the machine itself drifted). When the first loop ran again after the deep one
    (`after_deep_backlog`), the deep one is compared with the mean of both, which cancels a
    steady drift, and `drift` is the services' second shallow loop over their first."""
    deep = pipeline.get("deep_backlog")
    if not deep:
        return None
    after = pipeline.get("after_deep_backlog")
    shallow = [pipeline, after] if after else [pipeline]

    def llm(figures: dict[str, Any]) -> float:
        cpu: float = figures["cpu_s_per_goal"][LLM]
        return cpu

    def ratio(cpu: Callable[[dict[str, Any]], float]) -> float:
        return round(cpu(deep) / statistics.fmean(cpu(loop) for loop in shallow), 2)

    found = {"services": ratio(services_cpu), LLM: ratio(llm)}
    if after:
        found["drift"] = round(services_cpu(after) / services_cpu(pipeline), 2)
    return found


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Podium benchmark on {results['machine']}",
        f"broker JVM: {' '.join(results.get('broker_jvm') or ['not running here'])}",
        _row("figure", "value", "where we want to be"),
    ]
    pipeline = results.get("pipeline")
    if pipeline:
        lines.append(
            _row("throughput goals/s (0 ms LLM)", pipeline["goals_per_s"], "≥ 70 (stretch 100)")
        )
        lines.append(_row("throughput tasks/s", pipeline["tasks_per_s"]))
        lines.append(_row("CPU-s per goal: Podium's services", services_cpu(pipeline), "≤ 0.013"))
        for name, cpu in pipeline["cpu_s_per_goal"].items():
            lines.append(_row(f"  CPU-s per goal: {name}", cpu))
        if "machine_cpu_busy" in pipeline:
            lines.append(
                _row(
                    "  CPU-s per goal: broker, PostgreSQL, client",
                    pipeline["cpu_s_per_goal_outside_services"],
                )
            )
            if "cpu_s_per_goal_client" in pipeline:
                client = pipeline["cpu_s_per_goal_client"]
                value = f"{client} ({pipeline['client_cores_busy']} core)"
                lines.append(_row("    of which the benchmark's client", value))
            lines.append(_row("  cores busy while measured", f"{pipeline['machine_cpu_busy']:.0%}"))
            if "goal_ms" in pipeline:
                goal_ms = pipeline["goal_ms"]
                value = f"{goal_ms['p50']} / {goal_ms['p99']}"
                label = f"  goal ms p50/p99, {pipeline['outstanding']} outstanding"
                lines.append(_row(label, value))
        ratio = backlog_ratio(pipeline)
        if ratio is not None:
            deep = pipeline["deep_backlog"]
            label = f"CPU per goal, {deep['outstanding']} ÷ {pipeline['outstanding']} outstanding"
            value = f"{ratio['services']} (LLM {ratio[LLM]})"
            if "drift" in ratio:
                value += f", {pipeline['outstanding']} again {ratio['drift']}"
            lines.append(_row(label, value, "≤ 1.2"))
            lines.append(
                _row(
                    f"  throughput goals/s, {deep['outstanding']} outstanding", deep["goals_per_s"]
                )
            )
        if "at_2s" in pipeline:
            lines.append(_row("throughput goals/s (2 s LLM)", pipeline["at_2s"]["goals_per_s"]))
        over = pipeline["overhead"]
        lines.append(
            _row(
                f"overhead ms at {over['goals_per_s']} goals/s p50",
                over["overhead_ms"]["p50"],
                "≤ 15",
            )
        )
        lines.append(_row("overhead ms p95", over["overhead_ms"]["p95"]))
        lines.append(_row("overhead ms p99", over["overhead_ms"]["p99"], "≤ 50"))
        for key, label in (
            ("overhead_inside_ms", "GoalSubmitted→outcome"),
            ("client_legs_ms", "client's request + read"),
        ):
            if over.get(key):
                value = f"{over[key]['p50']} / {over[key]['p99']}"
                lines.append(_row(f"  of it {label} p50/p99 ms", value))
        for hop, values in over["hops_ms"].items():
            lines.append(_row(f"  hop {hop} p50/p99 ms", f"{values['p50']} / {values['p99']}"))
        if "broker_alone" in over:
            alone = over["broker_alone"]["hop_ms"]
            label = f"  broker alone: hop p50/p99 ms ({over['critical_path_hops']} a goal)"
            lines.append(_row(label, f"{alone['p50']} / {alone['p99']}"))
        for name, rss in pipeline["rss_mb_idle"].items():
            lines.append(_row(f"idle RSS MB: {name}", rss, "≤ 60"))
        for name, cpu in pipeline.get("cpu_ms_per_s_idle", {}).items():
            lines.append(_row(f"idle CPU ms/s: {name}", cpu))
    for limit, figures in results.get("inflight", {}).items():
        value = f"{figures['tasks_per_s']} ({figures['efficiency']:.0%})"
        lines.append(_row(f"in flight {limit} @2 s: tasks/s (Little)", value, "≥ 90% at 1024"))
        lines.append(_row(f"  RSS MB at {limit}", figures["rss_mb"]))
        if "handler_ms" in figures:
            handler = figures["handler_ms"]
            value = f"{figures['slot_ms']} / {handler['p50']} / {handler['p99']}"
            lines.append(_row(f"  slot ms, handler p50/p99 ms at {limit}", value))
    for replicas, figures in results.get("scaling", {}).items():
        lines.append(
            _row(f"researcher replicas {replicas} @200 ms tasks/s", figures["tasks_per_s"])
        )
    celery = results.get("celery")
    if celery:
        for key, value in celery.items():
            if isinstance(value, dict) and "p50" in value:
                value = f"{value['p50']} / {value['p99']}"
                key = f"{key} p50/p99"
            elif isinstance(value, dict):  # a pool's workers' log (bench.celerylogs)
                value = f"{value['errors']} ERROR, {value['critical']} CRITICAL"
            lines.append(_row(f"celery {key}", value))
        lines.append(_row("ratio vs celery at 2 s", results.get("ratio_vs_celery"), "≥ 3"))
    lines += _capacity(results)
    minutes = results.get("scenario_minutes")
    if minutes:
        spent = ", ".join(f"{name} {value:g}" for name, value in minutes.items())
        lines.append(_row("minutes each scenario took", spent))
    other = results.get("other_work_cores")
    if other:
        beside = ", ".join(f"{name} {cores:g}" for name, cores in other.items())
        lines.append(_row("cores busy with other work", beside))
    return "\n".join(lines)


def _capacity(results: dict[str, Any]) -> list[str]:
    capacity = results.get("capacity_goals_per_s")
    if not capacity:
        return []
    figures = results["capacity"]
    lines = [f"capacity, open loop, {figures['window_s']:g} s windows (goals/s sustained)"]
    if figures.get("rates"):
        tried = ", ".join(f"{rate:g}" for rate in figures["rates"])
        lines.append(f"  at the rates given ({tried}), not searched: the highest sustained")
    for name, by_latency in capacity.items():
        for at, value in by_latency.items():
            detail = figures[name].get(at, {})
            if name == "celery" and detail.get("best"):
                value = f"{value} ({detail['best']})"
            elif detail.get("cpu_s_per_goal") is not None:
                value = f"{value} ({detail['cpu_s_per_goal']} CPU-s/goal)"
            lines.append(_row(f"  {name} at {at}", value))
    for at, ratio in results["capacity_ratio_vs_celery"].items():
        lines.append(_row(f"  podium ÷ celery at {at}", ratio, "≥ 3 at 2s"))
    for name, p50 in results["overhead_ms_p50"].items():
        lines.append(_row(f"  overhead p50 ms at half capacity: {name}", p50))
    for name, lost in results["goals_lost"].items():
        lines.append(_row(f"  goals lost: {name}", lost, "0"))
    return lines
