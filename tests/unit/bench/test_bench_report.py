"""The figures results.json leads with and the table `make bench` prints, from scenario
figures of a known shape: the capacity headline (per system and latency, the ratio to
Celery, overhead and goals lost) and the table's rows with the issue's targets."""

from __future__ import annotations

from typing import Any

from bench.report import backlog_ratio, headline, services_cpu, table


def capacity_figures() -> dict[str, Any]:
    return {
        "window_s": 60.0,
        "p99_limit_ms": {"0ms": 250.0, "2000ms": 8250.0},
        "podium": {
            "0ms": {"goals_per_s": 12.0, "cpu_s_per_goal": 0.03},
            "2000ms": {"goals_per_s": 48.0, "cpu_s_per_goal": 0.04},
            "overhead": {"overhead_ms": {"p50": 30.5}},
            "goals_lost": 0,
        },
        "celery": {
            "0ms": {"goals_per_s": 8.0, "best": "gevent 2 x 256"},
            "2000ms": {"goals_per_s": 12.0, "best": "gevent 2 x 1024"},
            "overhead": {"overhead_ms": {"p50": 50.0}},
            "goals_lost": 2,
        },
        "langgraph": {"failed": "RuntimeError('no scripted LLM')"},
        "failed": ["langgraph"],
    }


def test_the_headline_is_per_system_and_latency_with_the_ratio_to_celery() -> None:
    figures = headline(capacity_figures())

    assert figures["capacity_goals_per_s"] == {
        "podium": {"0ms": 12.0, "2000ms": 48.0},
        "celery": {"0ms": 8.0, "2000ms": 12.0},
    }
    assert figures["capacity_ratio_vs_celery"] == {"0ms": 1.5, "2000ms": 4.0}
    assert figures["overhead_ms_p50"] == {"podium": 30.5, "celery": 50.0}
    assert figures["goals_lost"] == {"podium": 0, "celery": 2}


def test_a_ratio_is_none_when_either_system_sustained_nothing() -> None:
    figures = capacity_figures()
    figures["celery"]["0ms"]["goals_per_s"] = 0.0
    del figures["podium"]["2000ms"]

    assert headline(figures)["capacity_ratio_vs_celery"] == {"0ms": None, "2000ms": None}


def pipeline_figures() -> dict[str, Any]:
    hop = {"p50": 4.0, "p99": 12.0}
    return {
        "goals_per_s": 40.0,
        "tasks_per_s": 160.0,
        "cpu_s_per_goal": {"scripted-llm": 0.003, "planner": 0.004, "aggregator": 0.005},
        "overhead": {
            "goals_per_s": 20.0,
            "overhead_ms": {"p50": 30.0, "p95": 60.0, "p99": 80.0},
            "overhead_inside_ms": {"p50": 24.0, "p95": 50.0, "p99": 70.0},
            "client_legs_ms": {"p50": 6.0, "p95": 9.0, "p99": 12.0},
            "hops_ms": {"gateway→planner": hop},
            "broker_alone": {"per_s": 20.0, "records": 600, "hop_ms": {"p50": 2.6, "p99": 7.5}},
            "critical_path_hops": 8,
        },
        "rss_mb_idle": {"planner": 55.0},
        "cpu_ms_per_s_idle": {"planner": 6.3},
    }


def test_the_services_cpu_leaves_the_llm_out() -> None:
    assert services_cpu(pipeline_figures()) == 0.009


def with_deep_backlog() -> dict[str, Any]:
    figures = pipeline_figures()
    figures["outstanding"] = 200
    figures["deep_backlog"] = {
        "outstanding": 1000,
        "goals_per_s": 36.0,
        "cpu_s_per_goal": {"scripted-llm": 0.0033, "planner": 0.0046, "aggregator": 0.0062},
    }
    return figures


def with_shallow_loop_after(figures: dict[str, Any]) -> dict[str, Any]:
    figures["after_deep_backlog"] = {
        "outstanding": 200,
        "goals_per_s": 38.0,
        "cpu_s_per_goal": {"scripted-llm": 0.0036, "planner": 0.005, "aggregator": 0.0058},
    }
    return figures


def test_the_deep_backlog_is_measured_against_the_first_loop_and_the_llm_s_drift() -> None:
    assert backlog_ratio(with_deep_backlog()) == {"services": 1.2, "scripted-llm": 1.1}
    assert backlog_ratio(pipeline_figures()) is None


def test_with_the_first_loop_again_the_deep_one_is_measured_against_both() -> None:
    # The machine slowed by a fifth over the three loops (the second shallow loop cost 1.2
    # times the first): against their mean the deep backlog costs 1.09 times as much a goal,
    # the LLM's fixed work 1.0.
    assert backlog_ratio(with_shallow_loop_after(with_deep_backlog())) == {
        "services": 1.09,
        "scripted-llm": 1.0,
        "drift": 1.2,
    }


def test_the_table_names_each_target_of_the_issue() -> None:
    results = {
        "machine": "2 x test",
        "pipeline": with_deep_backlog(),
        **headline(capacity_figures()),
    }
    results["capacity"] = capacity_figures()
    results["inflight"] = {
        "1024": {
            "tasks_per_s": 400.0,
            "efficiency": 0.781,
            "rss_mb": 130.0,
            "slot_ms": 2560.0,
            "handler_ms": {"p50": 2100.0, "p95": 2300.0, "p99": 2400.0},
        }
    }

    results["broker_jvm"] = ["-Xmx1536m", "-XX:+UseG1GC"]
    lines = table(results).splitlines()
    rows = {line[:44].strip(): line[44:] for line in lines}

    assert lines[1] == "broker JVM: -Xmx1536m -XX:+UseG1GC"

    assert rows["throughput goals/s (0 ms LLM)"].split() == ["40.0", "≥", "70", "(stretch", "100)"]
    assert rows["CPU-s per goal: Podium's services"].split() == ["0.009", "≤", "0.013"]
    assert rows["CPU per goal, 1000 ÷ 200 outstanding"].split() == [
        "1.2",
        "(LLM",
        "1.1)",
        "≤",
        "1.2",
    ]
    results["pipeline"] = with_shallow_loop_after(with_deep_backlog())
    rows = {line[:44].strip(): line[44:] for line in table(results).splitlines()}
    assert rows["CPU per goal, 1000 ÷ 200 outstanding"].split() == [
        "1.09",
        "(LLM",
        "1.0),",
        "200",
        "again",
        "1.2",
        "≤",
        "1.2",
    ]
    assert rows["idle RSS MB: planner"].split() == ["55.0", "≤", "60"]
    assert rows["idle CPU ms/s: planner"].split() == ["6.3"]
    assert rows["overhead ms p99"].split() == ["80.0", "≤", "50"]
    assert rows["of it GoalSubmitted→outcome p50/p99 ms"].split() == ["24.0", "/", "70.0"]
    assert "cores busy with other work" not in rows
    results["celery"] = {
        "threads_goals_per_s_at_0s": 34.6,
        "threads_overhead_ms": {"p50": 37.5, "p95": 58.7, "p99": 67.1},
        "threads_worker_log_at_0s": {"errors": 0, "critical": 1, "first": "CRITICAL lost"},
    }
    results["ratio_vs_celery"] = 1.09
    rows = {line[:44].strip(): line[44:] for line in table(results).splitlines()}
    assert rows["celery threads_goals_per_s_at_0s"].split() == ["34.6"]
    assert rows["celery threads_overhead_ms p50/p99"].split() == ["37.5", "/", "67.1"]
    assert rows["celery threads_worker_log_at_0s"].split() == ["0", "ERROR,", "1", "CRITICAL"]
    results["scenario_minutes"] = {"pipeline": 9.5, "capacity": 61.0}
    results["other_work_cores"] = {"pipeline": 0.32, "capacity": 0.0}
    rows = {line[:44].strip(): line[44:] for line in table(results).splitlines()}
    assert rows["minutes each scenario took"].split() == ["pipeline", "9.5,", "capacity", "61"]
    assert rows["cores busy with other work"].split() == ["pipeline", "0.32,", "capacity", "0"]
    assert rows["of it client's request + read p50/p99 ms"].split() == [
        "6.0",
        "/",
        "12.0",
    ]
    assert rows["broker alone: hop p50/p99 ms (8 a goal)"].split() == ["2.6", "/", "7.5"]
    assert rows["podium ÷ celery at 2000ms"].split() == ["4.0", "≥", "3", "at", "2s"]
    assert rows["celery at 2000ms"].split() == ["12.0", "(gevent", "2", "x", "1024)"]
    assert rows["goals lost: celery"].split() == ["2", "0"]
    assert rows["in flight 1024 @2 s: tasks/s (Little)"].split() == [
        "400.0",
        "(78%)",
        "≥",
        "90%",
        "at",
        "1024",
    ]
    assert rows["slot ms, handler p50/p99 ms at 1024"].split() == [
        "2560.0",
        "/",
        "2100.0",
        "/",
        "2400.0",
    ]
