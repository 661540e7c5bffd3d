"""The local model server: the weights joined from their packages and checked against the
pinned hash, the build's progress, the server's command, and the loud fallback to the
scripted LLM when the model cannot be had."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from podium_cli import models
from podium_cli.settings import CliSettings
from podium_cli.stack import native
from podium_cli.stack.control import Stack
from podium_cli.stack.layout import Layout
from podium_cli.stack.local_llm import (
    LocalLLM,
    LocalModelUnavailable,
    assemble,
    progress,
)
from podium_cli.stack.services import Process

HERE = Path(__file__).resolve().parent
PARTS = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 7]


def fake_model(sha256: str) -> models.LocalModel:
    return models.LocalModel(
        name="tiny",
        describes="a tiny test model",
        packages=("tiny-part1==1.0", "tiny-part2==1.0"),
        files="data/*.bin",
        sha256=sha256,
        size_mb=1,
        memory_gb=0.1,
    )


def install_parts(root: Path) -> None:
    """As `uv pip install --target` lays the packages out: one folder per module."""
    (root / "tiny_part1" / "data").mkdir(parents=True)
    (root / "tiny_part2" / "data").mkdir(parents=True)
    (root / "tiny_part1" / "data" / "part01.bin").write_bytes(PARTS[0])
    (root / "tiny_part2" / "data" / "part02.bin").write_bytes(PARTS[1])
    (root / "tiny_part2" / "data" / "part03.bin").write_bytes(PARTS[2])


def test_the_parts_are_joined_in_order_and_checked_against_the_pinned_hash(tmp_path: Path):
    install_parts(tmp_path / "parts")
    whole = b"".join(PARTS)
    target = tmp_path / "tiny.gguf"
    assemble(fake_model(hashlib.sha256(whole).hexdigest()), tmp_path / "parts", target)
    assert target.read_bytes() == whole


def test_a_file_that_does_not_hash_to_the_pin_is_never_kept(tmp_path: Path):
    install_parts(tmp_path / "parts")
    target = tmp_path / "tiny.gguf"
    with pytest.raises(LocalModelUnavailable, match=r"sha256 is .*, not the pinned 00+; nothing"):
        assemble(fake_model("0" * 64), tmp_path / "parts", target)
    assert list(tmp_path.glob("tiny.*")) == []


def test_a_package_without_its_part_is_named(tmp_path: Path):
    install_parts(tmp_path / "parts")
    (tmp_path / "parts" / "tiny_part2" / "data" / "part02.bin").unlink()
    (tmp_path / "parts" / "tiny_part2" / "data" / "part03.bin").unlink()
    with pytest.raises(LocalModelUnavailable, match=r"tiny-part2==1\.0 holds no data/\*\.bin"):
        assemble(fake_model("0" * 64), tmp_path / "parts", tmp_path / "tiny.gguf")


def test_every_pinned_model_names_exact_versions_and_a_sha256():
    assert models.DEFAULT_MODEL in models.MODELS
    for model in models.MODELS.values():
        assert all("==" in requirement for requirement in model.packages)
        assert len(bytes.fromhex(model.sha256)) == 32


def test_the_build_progress_estimates_the_time_left():
    assert progress(50, 200, 300.0) == "compiled 50/200 (5m00s, about 15m00s left)"
    assert progress(0, 200, 3.0) == "compiled 0/200 (0m03s)"


def test_the_server_serves_the_cached_model_one_call_at_a_time(tmp_path: Path):
    settings = CliSettings()
    layout = Layout(checkout=HERE, state=tmp_path, cache=tmp_path / "cache")
    server = LocalLLM(settings, layout).process()
    command = " ".join(server.command)
    assert "-m llama_cpp.server" in command
    assert f"--model {tmp_path}/cache/models/qwen2.5-coder-1.5b.gguf" in command
    assert "--port 8099 --n_ctx 4096" in command
    assert "--interrupt_requests False" in command  # else queued calls are cut off
    assert server.ready_url == "http://127.0.0.1:8099/v1/models"
    assert server.script == "llama_cpp.server"


def test_a_model_that_cannot_be_had_falls_back_to_the_scripted_llm_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    layout = Layout(checkout=HERE, state=tmp_path, cache=tmp_path / "cache")
    layout.make_dirs()

    def no_compiler(self: LocalLLM) -> None:
        raise LocalModelUnavailable("building llama-cpp-python failed (1): no C++ compiler")

    started: list[str] = []

    def start(self: object, process: Process) -> subprocess.Popen[bytes] | None:
        started.append(process.name)
        return None

    monkeypatch.setattr(LocalLLM, "prepare", no_compiler)
    monkeypatch.setattr("podium_cli.stack.services.Runner.start", start)
    monkeypatch.setattr("podium_cli.stack.services.Runner.wait_ready", lambda *_: 0.0)
    stack = Stack(CliSettings(), layout)
    stack._llm_up()
    shown = capsys.readouterr().out
    assert "THE LOCAL MODEL COULD NOT BE HAD: building llama-cpp-python failed" in shown
    assert "SCRIPTED TEST LLM" in shown
    assert started == ["scripted-llm"]
    assert stack.uses_scripted_llm()
    assert stack.settings.llm_kind == "scripted"


GCC_TARGET_HELP = """The following options are target specific:
  -m64                                  [enabled]
  -march=                               {arch}
  -mavx2                                [{avx2}]
  -mavx512f                             [disabled]
  -mtune=                               {arch}
"""


def fake_compiler(tmp_path: Path, arch: str = "znver3", avx2: str = "enabled") -> Path:
    """A `cc` that answers `-march=native -Q --help=target` as gcc does."""
    help_text = tmp_path / f"help-{arch}-{avx2}.txt"
    help_text.write_text(GCC_TARGET_HELP.format(arch=arch, avx2=avx2))
    script = tmp_path / f"cc-{arch}-{avx2}"
    script.write_text(f"#!/bin/sh\ncat {help_text}\n")
    script.chmod(0o755)
    return script


def test_the_cpu_key_follows_what_march_native_enables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    keys = {}
    for arch, avx2 in [("znver3", "enabled"), ("znver3", "disabled"), ("skylake", "enabled")]:
        monkeypatch.setenv("CC", str(fake_compiler(tmp_path, arch, avx2)))
        keys[arch, avx2] = native.cpu_key()
        assert native.cpu_key() == keys[arch, avx2]  # the same CPU, the same key
    assert len(set(keys.values())) == 3
    assert native.UNKNOWN not in keys.values()


def test_without_a_compiler_that_can_say_the_cpu_key_is_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    assert native.cpu_key() == native.UNKNOWN
    silent = tmp_path / "cc-silent"
    silent.write_text("#!/bin/sh\nexit 1\n")
    silent.chmod(0o755)
    monkeypatch.setenv("CC", str(silent))
    assert native.cpu_key() == native.UNKNOWN


class Builds:
    """`LocalLLM._build` replaced: counts the builds, each leaving a wheel."""

    def __init__(self, llm: LocalLLM) -> None:
        self.count = 0
        self.llm = llm

    def __call__(self) -> Path:
        self.count += 1
        wheel = self.llm.wheels / f"llama_cpp_python-{models.LLAMA_CPP_PYTHON}-py3-none-any.whl"
        wheel.write_text(f"build {self.count}")
        return wheel


def local_llm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu: list[str]) -> LocalLLM:
    llm = LocalLLM(CliSettings(), Layout(checkout=HERE, state=tmp_path, cache=tmp_path / "c"))
    monkeypatch.setattr("podium_cli.stack.local_llm.cpu_key", lambda: cpu[0])
    monkeypatch.setattr(llm, "_build", Builds(llm))
    return llm


def test_a_cached_wheel_is_used_only_on_the_cpu_it_was_built_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    cpu = ["cpu-a"]
    llm = local_llm(tmp_path, monkeypatch, cpu)
    builds = llm._build
    assert isinstance(builds, Builds)
    wheel = llm._wheel()
    assert (builds.count, wheel.read_text()) == (1, "build 1")
    assert llm._wheel() == wheel
    assert builds.count == 1
    cpu[0] = "cpu-b"
    wheel = llm._wheel()
    assert (builds.count, wheel.read_text()) == (2, "build 2")
    assert "was built for another CPU: building it again" in capsys.readouterr().out
    assert llm._wheel() == wheel
    assert builds.count == 2
    stamp = llm.wheels / f"llama_cpp_python-{models.LLAMA_CPP_PYTHON}.cpu"
    assert stamp.read_text() == "cpu-b\n"


def test_an_unstamped_wheel_is_taken_as_built_here_and_an_unknown_cpu_uses_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cpu = ["cpu-a"]
    llm = local_llm(tmp_path, monkeypatch, cpu)
    llm.wheels.mkdir(parents=True)
    wheel = llm.wheels / f"llama_cpp_python-{models.LLAMA_CPP_PYTHON}-py3-none-any.whl"
    wheel.write_text("built before stamps")
    assert llm._wheel() == wheel
    stamp = llm.wheels / f"llama_cpp_python-{models.LLAMA_CPP_PYTHON}.cpu"
    assert stamp.read_text() == "cpu-a\n"
    cpu[0] = native.UNKNOWN
    assert llm._wheel() == wheel
    builds = llm._build
    assert isinstance(builds, Builds)
    assert builds.count == 0


def test_the_servers_environment_is_made_again_when_its_wheel_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cpu = ["cpu-a"]
    llm = local_llm(tmp_path, monkeypatch, cpu)
    commands: list[list[str]] = []

    def run(command: list[str]) -> None:
        commands.append(command)
        if "venv" in command:
            llm.venv.mkdir(parents=True)

    monkeypatch.setattr("podium_cli.stack.local_llm._run", run)
    llm._server()
    installs = [c for c in commands if "install" in c]
    assert len(installs) == 1
    assert installs[0][-1].endswith("py3-none-any.whl")
    llm._server()
    assert len([c for c in commands if "install" in c]) == 1  # ready: nothing to do
    cpu[0] = "cpu-b"  # a new wheel: the environment holding the old one is replaced
    llm._server()
    assert len([c for c in commands if "install" in c]) == 2
