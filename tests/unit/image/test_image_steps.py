"""The steps of `sichrplace image` that decide something, without podman or a network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sichrplace.config import Settings
from sichrplace.ops.image import audit, base, build, context, host, smoke
from sichrplace.ops.image.layout import IMAGE, ImageError, Layout


def test_containers_conf_uses_runc_and_rlimits_below_the_hosts(tmp_path: Path) -> None:
    conf = tmp_path / "containers.conf"
    host.write_containers_conf(conf)
    text = conf.read_text(encoding="utf-8")
    assert 'runtime = "runc"' in text
    assert '"nofile=1024:1024"' in text
    assert '"nproc=1000:1000"' in text
    assert host.podman_env(conf, {"PATH": "/bin"}) == {
        "PATH": "/bin",
        "CONTAINERS_CONF": str(conf),
    }


def test_missing_tools_are_named_by_their_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    present = {"podman", "runc", "skopeo"}
    monkeypatch.setattr("shutil.which", lambda cmd: cmd if cmd in present else None)
    assert host.missing_packages(root=True) == ["buildah", "mmdebstrap"]
    assert host.missing_packages(root=False) == ["buildah", "mmdebstrap", "uidmap"]


def test_the_base_is_minbase_bookworm_with_python_and_no_perl() -> None:
    cmd = base.mmdebstrap_command("/out/base.tar")
    assert cmd[0] == "mmdebstrap"
    assert "--variant=minbase" in cmd
    assert cmd[-2:] == ["bookworm", "/out/base.tar"]
    included = next(arg for arg in cmd if arg.startswith("--include=")).split("=", 1)[1]
    assert {"python3.11", "ca-certificates"} <= set(included.split(","))
    # Installing the dictionaries would bring Perl: their files are extracted instead.
    assert not {"wngerman", "hunspell-de-de", "dictionaries-common"} & set(included.split(","))
    hooks = " ".join(arg for arg in cmd if arg.startswith("--customize-hook="))
    for members in base.DATA_FILES.values():
        for member in members:
            assert member in hooks


def test_the_base_tag_follows_its_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = base.base_tag()
    assert tag.startswith(f"{base.REPOSITORY}:bookworm-")
    assert base.base_tag() == tag  # stable: an unchanged base is reused
    assert base.base_tag(["http://mirror.invalid/debian"]) != tag
    monkeypatch.setattr(base, "PACKAGES", (*base.PACKAGES, "tzdata"))
    assert base.base_tag() != tag


def test_tags_are_the_version_and_the_commit() -> None:
    clean = build.Revision("3f2a9c1b0e12aa55" + "0" * 24, dirty=False)
    assert build.image_tags("0.1.0", clean) == [f"{IMAGE}:0.1.0", f"{IMAGE}:3f2a9c1b0e12"]
    dirty = build.Revision(clean.sha, dirty=True)
    assert dirty.tag == "3f2a9c1b0e12-dirty"
    assert dirty.label == clean.sha + "-dirty"


def test_the_build_runs_offline_and_keeps_the_healthcheck(tmp_path: Path) -> None:
    cmd = build.build_command(
        Layout(tmp_path),
        base="localhost/sichrplace-base:bookworm-abc",
        tags=["localhost/sichrplace:0.1.0"],
        version="0.1.0",
        revision=build.Revision("abc", dirty=False),
        source="https://example.invalid/repo.git",
        created="2026-12-07T00:00:00Z",
    )
    assert cmd[:2] == ["podman", "build"]
    assert cmd[cmd.index("--network") + 1] == "none"
    assert cmd[cmd.index("--format") + 1] == "docker"
    args = {cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--build-arg"}
    assert {"VERSION=0.1.0", "REVISION=abc", "CREATED=2026-12-07T00:00:00Z"} <= args
    assert cmd[-1] == str(tmp_path / "build" / "image" / "context")


def test_a_budget_is_the_measurement_plus_15_percent(tmp_path: Path) -> None:
    budget = build.budget_from(490_364_104)
    assert budget.budget_bytes == 564_000_000  # 563.9 MB rounded up to a whole MB
    assert not budget.over(564_000_000)
    assert budget.over(564_000_001)
    path = tmp_path / "budget.json"
    build.write_budget(path, budget)
    assert build.load_budget(path) == budget
    assert build.load_budget(tmp_path / "absent.json") is None


def test_the_wheels_are_downloaded_for_the_images_platform(tmp_path: Path) -> None:
    cmd = context.download_command([tmp_path / "a.lock"], tmp_path / "wheels")
    assert "--require-hashes" in cmd
    assert "--only-binary=:all:" in cmd
    assert "--platform=manylinux_2_36_x86_64" in cmd
    assert "--platform=manylinux2014_x86_64" in cmd  # older wheels name the glibc this way
    assert {"--abi=cp311", "--abi=abi3", "--abi=none"} <= set(cmd)


def test_the_context_holds_only_what_the_containerfile_copies(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "src" / "pkg" / "__pycache__" / "x.pyc").write_text("")
    (root / "deploy" / "image").mkdir(parents=True)
    for name in ("requirements.lock", "tools.lock"):
        (root / "deploy" / "image" / name).write_text("")
    (root / "pyproject.toml").write_text("")
    (root / "alembic.ini").write_text("")
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "versions" / "0001_first.py").write_text("")
    (root / "build" / "image" / "wheels").mkdir(parents=True)
    (root / "build" / "image" / "wheels" / "a-1-py3-none-any.whl").write_text("")
    node_modules = root / "node_modules"
    (node_modules / "lib" / "dist").mkdir(parents=True)
    (node_modules / "lib" / "dist" / "lib.js").write_text("")
    (node_modules / "lib" / "unused.js").write_text("")
    ctx = context.stage(Layout(root), node_modules, {"npm-web": ["lib/dist/lib.js"]})
    files = sorted(str(p.relative_to(ctx)) for p in ctx.rglob("*") if p.is_file())
    assert files == [
        "alembic.ini",
        "deploy/image/requirements.lock",
        "deploy/image/tools.lock",
        "migrations/versions/0001_first.py",
        "npm-web/lib/dist/lib.js",
        "pyproject.toml",
        "src/pkg/__init__.py",
        "wheels/a-1-py3-none-any.whl",
    ]


def test_ignores_need_a_reason() -> None:
    text = "# comment\n\nGHSA-aaaa-bbbb-cccc  only the CLI's dev server, not in the image  # x\n"
    assert audit.parse_ignores(text) == [
        audit.Ignore("GHSA-aaaa-bbbb-cccc", "only the CLI's dev server, not in the image")
    ]
    with pytest.raises(ImageError, match="no reason"):
        audit.parse_ignores("PYSEC-2026-1\n")


def _vuln(vid: str, aliases: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": vid, "aliases": aliases, "fixed_in": ["9.9"], "summary": "bad", **extra}


def test_the_report_combines_pip_audit_and_the_projects_json() -> None:
    report = {
        "dependencies": [
            {"name": "alpha", "version": "1.0", "vulns": []},
            {
                "name": "Beta_Lib",
                "version": "2.0",
                "vulns": [
                    {"id": "PYSEC-1", "aliases": ["CVE-1"], "fix_versions": ["2.1"]},
                    {"id": "PYSEC-2", "aliases": ["GHSA-2"], "fix_versions": []},
                ],
            },
            {"name": "gamma", "skip_reason": "Dependency not found on PyPI"},
            {"name": "delta", "skip_reason": "Dependency not found on PyPI"},
            {"name": "epsilon", "skip_reason": "Dependency not found on PyPI"},
        ]
    }
    pins = {"alpha": "1.0", "beta-lib": "2.0", "gamma": "3.0", "delta": "4.0", "epsilon": "5.0"}
    projects: dict[str, dict[str, Any] | None] = {
        # gamma's pin is its newest release: PyPI's list of that release's vulnerabilities.
        "gamma": {
            "info": {"version": "3.0"},
            "vulnerabilities": [_vuln("GHSA-3", []), _vuln("GHSA-4", [], withdrawn="2026")],
        },
        # delta's pin is older than its newest release: nothing can be said.
        "delta": {"info": {"version": "4.1"}, "vulnerabilities": []},
        "epsilon": None,  # PyPI did not answer
    }
    ignores = [audit.Ignore("GHSA-2", "reason")]
    result = audit.evaluate(report, pins, ignores, fetch=lambda name: projects[name])
    assert result.total == 5
    assert result.audited_by_pip_audit == 2
    assert result.audited_by_project_json == 1
    assert result.unaudited == ["delta==4.0", "epsilon==5.0"]
    assert [(f.package, f.id) for f in result.findings] == [
        ("beta-lib", "PYSEC-1"),
        ("gamma", "GHSA-3"),
    ]
    assert [(f.id, reason) for f, reason in result.ignored] == [("PYSEC-2", "reason")]
    assert not result.ok
    saved = json.loads(json.dumps(result.to_json()))
    assert saved["ok"] is False
    assert "3/5 dependencies audited" in saved["summary"]
    assert "unaudited (no data): delta==4.0, epsilon==5.0" in saved["summary"]


def test_the_smoke_container_is_run_as_the_pods_run_it() -> None:
    settings = Settings()
    env = smoke.container_env(settings, 58999)
    assert env["SICHRPLACE_DB_PORT"] == str(settings.db.port)
    assert env["SICHRPLACE_REDIS_URL"] == settings.redis.url
    assert env["SICHRPLACE_HEALTHCHECK_PORT"] == "58999"
    cmd = smoke.run_command("localhost/sichrplace:abc", "smoke-1", 58999, env)
    assert "--read-only" in cmd
    assert cmd[cmd.index("--tmpfs") + 1].startswith("/tmp:")
    assert cmd[cmd.index("--user") + 1] == "10001"
    assert cmd[cmd.index("--network") + 1] == "host"
    # Values (the database password among them) stay off the command line.
    assert settings.db.password.get_secret_value() not in " ".join(cmd)
    assert cmd[-6:] == [
        "localhost/sichrplace:abc",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "58999",
    ]
