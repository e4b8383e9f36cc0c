"""`sichrplace image`: the container image (ops/image, docs/deployment.md "Image").

sichrplace image build            # tools, base (mmdebstrap), audit, podman build, SBOM, size
sichrplace image smoke            # the image against the local stack's PgBouncer and Redis
sichrplace image lock [--upgrade] # regenerate deploy/image/*.lock from pyproject.toml
sichrplace image audit            # the vulnerability report of the runtime lock alone
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TypeVar

import typer

from sichrplace.config import get_settings
from sichrplace.ops.image import audit as audit_step
from sichrplace.ops.image import base, context, host, lock, smoke
from sichrplace.ops.image import build as build_step
from sichrplace.ops.image.layout import ImageError, Layout, Stopwatch, layout, run
from sichrplace.platform.http.apidocs import package_asset_paths
from sichrplace.web.assets import BUNDLES

app = typer.Typer(no_args_is_help=True, help="The container image: build, smoke-test, lock.")

T = TypeVar("T")


def _step(name: str, watch: Stopwatch, action: Callable[[], T]) -> T:
    """Run one phase, print its time; an ImageError ends the command with its message."""
    started = time.monotonic()
    typer.echo(f"image: {name} …")
    try:
        result = action()
    except ImageError as exc:
        typer.echo(f"image: {name} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"image: {name} done in {watch.lap(name, started):.1f} s")
    return result


def _npm_files() -> dict[str, list[str]]:
    """The npm files of the pages' bundles (built in the image) and of /docs and /redoc."""
    web = sorted({p[4:] for parts in BUNDLES.values() for p in parts if p.startswith("npm:")})
    return {"npm-web": web, "npm-docs": package_asset_paths()}


def _podman_env(where: Layout) -> dict[str, str]:
    host.write_containers_conf(where.containers_conf)
    return host.podman_env(where.containers_conf)


def _audit(where: Layout) -> audit_step.AuditResult:
    result = audit_step.audit(where)
    typer.echo(f"image: audit: {result.summary()}")
    for finding in result.findings:
        fix = ", ".join(finding.fix_versions) or "no fixed release"
        typer.echo(
            f"  VULNERABLE {finding.package}=={finding.version} {finding.id} "
            f"(fixed in {fix}): {finding.summary[:120]}",
            err=True,
        )
    for finding, reason in result.ignored:
        typer.echo(f"  ignored {finding.package}=={finding.version} {finding.id}: {reason}")
    if not result.ok:
        raise ImageError(
            f"known vulnerabilities (report: {where.vulnerabilities}); upgrade, or list each "
            f"id with its reason in {where.audit_ignore}"
        )
    return result


@app.command("build")
def build(
    refresh_base: bool = typer.Option(
        False, "--refresh-base", help="Make the base again (Debian's updates) though present."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Build every layer afresh."),
    set_budget: bool = typer.Option(
        False, "--set-budget", help="Write a new size budget: this build's size + 15 %."
    ),
    mirror: list[str] = typer.Option(
        [], "--mirror", help="Debian mirror(s) for mmdebstrap (default: Debian's own)."
    ),
) -> None:
    """Build the image (tags :VERSION and :GITSHA) from a base made by mmdebstrap; write its
    SBOM, vulnerability report and size to build/image/; fail on a known vulnerability or
    when over the size budget (deploy/image/budget.json)."""
    where, watch = layout(), Stopwatch()
    where.log.unlink(missing_ok=True)  # the log of this build only
    missing = host.missing_packages()
    typer.echo(f"image: Debian packages to install: {', '.join(missing) or 'none'}")
    _step("tools", watch, lambda: host.install(missing))
    env = _podman_env(where)
    _check_locks(where)
    audited = _step("audit", watch, lambda: _audit(where))
    base_image = _step(
        "base", watch, lambda: base.ensure_base(where, env, refresh=refresh_base, mirrors=mirror)
    )
    typer.echo(
        f"image: base {base_image.tag} {'made' if base_image.built else 'reused'}, "
        f"{base_image.size_bytes / 1e6:.1f} MB"
    )
    _step("wheels", watch, lambda: context.ensure_wheels(where))
    _step("context", watch, lambda: _stage(where))
    revision = build_step.git_revision(where.root)
    tags = build_step.image_tags(build_step.project_version(where.root), revision)
    command = build_step.build_command(
        where,
        base=base_image.tag,
        tags=tags,
        version=build_step.project_version(where.root),
        revision=revision,
        source=build_step.source_url(where.root),
        created=build_step.created(where.root, revision),
        no_cache=no_cache,
    )
    typer.echo(f"image: podman build's output goes to {where.log}")
    _step("podman build", watch, lambda: run(command, env=env, log=where.log))
    built = _step("inspect", watch, lambda: build_step.inspect(tags[1], where, env))
    budget = build_step.load_budget(where.budget)
    if set_budget or budget is None:
        budget = build_step.budget_from(built.size_bytes)
        build_step.write_budget(where.budget, budget)
        typer.echo(f"image: size budget set to {budget.budget_bytes / 1e6:.0f} MB ({where.budget})")
    build_step.write_report(
        where.report,
        {
            "image": tags,
            "revision": revision.label,
            "base": asdict(base_image),
            **asdict(built),
            "budget_bytes": budget.budget_bytes,
            "audit": audited.summary(),
            "seconds": {**watch.phases, "total": watch.total},
        },
    )
    typer.echo(
        f"image: {', '.join(tags)}: {built.size_bytes / 1e6:.1f} MB (budget "
        f"{budget.budget_bytes / 1e6:.0f} MB; base {base_image.size_bytes / 1e6:.1f} MB); "
        f"SBOM {built.sbom_components} components ({where.sbom}); {built.debian_packages} "
        f"Debian packages; {watch.total:.0f} s"
    )
    if budget.over(built.size_bytes):
        typer.echo(
            f"image: {built.size_bytes / 1e6:.1f} MB is over the budget of "
            f"{budget.budget_bytes / 1e6:.0f} MB ({where.budget}): find what grew (`podman "
            f"history {tags[1]}`), or set a new budget with --set-budget and say why",
            err=True,
        )
        raise typer.Exit(1)


def _check_locks(where: Layout) -> None:
    problems = lock.check(where)
    if problems:
        typer.echo("image: the locks are not in step with pyproject.toml:", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        typer.echo("run `sichrplace image lock` and commit the locks", err=True)
        raise typer.Exit(1)


def _stage(where: Layout) -> None:
    npm_files = _npm_files()
    node_modules = get_settings().app.node_modules_dir
    needed = [name for files in npm_files.values() for name in files]
    context.ensure_npm_files(where.root, node_modules, needed)
    context.stage(where, node_modules, npm_files)


@app.command("smoke")
def smoke_cmd(
    image: str = typer.Option(
        None, "--image", help="Default: the image of this checkout (:GITSHA)."
    ),
    timeout: float = typer.Option(90.0, help="Seconds to wait for /readyz."),
) -> None:
    """Run the image (user 10001, read-only root, tmpfs /tmp, host network) against the local
    stack's PgBouncer and Redis: /readyz, a search, the user, the read-only root, the
    healthcheck and a clean stop."""
    where = layout()
    env = _podman_env(where)
    ref = image or smoke.default_image(build_step.git_revision(where.root).tag)
    if not base.image_exists(ref, env):
        typer.echo(f"image smoke: {ref} does not exist: run `sichrplace image build`", err=True)
        raise typer.Exit(1)
    try:
        checks, logs = smoke.smoke(ref, get_settings(), env, timeout=timeout)
    except ImageError as exc:
        typer.echo(f"image smoke: {exc}", err=True)
        raise typer.Exit(1) from exc
    for check in checks:
        typer.echo(f"  {'ok  ' if check.ok else 'FAIL'} {check.name:<15} {check.detail}")
    if not all(check.ok for check in checks):
        typer.echo("image smoke: failed; the container's last log lines:", err=True)
        typer.echo(logs, err=True)
        raise typer.Exit(1)
    typer.echo(f"image smoke: {ref} passed")


@app.command("lock")
def lock_cmd(
    upgrade: bool = typer.Option(False, "--upgrade", help="Newest releases the pins allow."),
) -> None:
    """Regenerate deploy/image/requirements.lock and tools.lock (uv pip compile, hashes)."""
    where = layout()
    try:
        for command in lock.compile_commands(where, upgrade=upgrade):
            run(command, cwd=where.root)
    except ImageError as exc:
        typer.echo(f"image lock: {exc}", err=True)
        raise typer.Exit(1) from exc
    problems = lock.check(where)
    for problem in problems:
        typer.echo(f"  {problem}", err=True)
    runtime = lock.lock_pins(where.requirements_lock.read_text(encoding="utf-8"))
    tools = lock.lock_pins(where.tools_lock.read_text(encoding="utf-8"))
    typer.echo(f"image lock: {len(runtime)} runtime and {len(tools)} build-tool pins, hashed")
    if problems:
        raise typer.Exit(1)


@app.command("audit")
def audit_cmd() -> None:
    """The vulnerability report of the runtime lock (build/image/vulnerabilities.json)."""
    where = layout()
    try:
        result = _audit(where)
    except ImageError as exc:
        typer.echo(f"image audit: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(result.to_json()["summary"]))
