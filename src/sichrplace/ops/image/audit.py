"""The dependency vulnerability report of the image's runtime lock.

pip-audit asks PyPI's JSON API (`--vulnerability-service pypi`; OSV cannot be reached here)
for each pinned release. Where that answers nothing for a release (the per-release endpoint
is missing behind some mirrors), the project's own JSON is read instead: PyPI lists there the
known vulnerabilities of its newest release, which covers a pin that is the newest. A pin
neither answers for is reported as unaudited, never as clean.

A known vulnerability fails the build unless deploy/image/audit-ignore.txt lists its id (or an
alias: CVE, GHSA, PYSEC) with the reason it does not apply or may wait.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sichrplace.ops.image.layout import ImageError, Layout, run
from sichrplace.ops.image.lock import lock_pins, normalize

PYPI_JSON = "https://pypi.org/pypi/{name}/json"


@dataclass(frozen=True)
class Ignore:
    id: str
    reason: str


def parse_ignores(text: str) -> list[Ignore]:
    """`ID  reason…` a line; `#` starts a comment. An id without a reason is an error."""
    ignores: list[Ignore] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise ImageError(f"audit-ignore.txt line {number}: {parts[0]} has no reason")
        ignores.append(Ignore(parts[0], parts[1].strip()))
    return ignores


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    summary: str
    source: str  # "pip-audit" or "pypi-project-json"

    def names(self) -> set[str]:
        return {self.id, *self.aliases}


@dataclass
class AuditResult:
    total: int
    audited_by_pip_audit: int = 0
    audited_by_project_json: int = 0
    unaudited: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # not ignored: they fail the build
    ignored: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        audited = self.audited_by_pip_audit + self.audited_by_project_json
        text = (
            f"{audited}/{self.total} dependencies audited (pip-audit {self.audited_by_pip_audit}"
            f", PyPI project data of the newest release {self.audited_by_project_json}); "
            f"known vulnerabilities: {len(self.findings)} failing, {len(self.ignored)} ignored"
        )
        if self.unaudited:
            text += f"; unaudited (no data): {', '.join(self.unaudited)}"
        return text

    def to_json(self) -> dict[str, Any]:
        def finding(f: Finding) -> dict[str, Any]:
            return {
                "package": f.package,
                "version": f.version,
                "id": f.id,
                "aliases": list(f.aliases),
                "fix_versions": list(f.fix_versions),
                "summary": f.summary,
                "source": f.source,
            }

        return {
            "total": self.total,
            "audited_by_pip_audit": self.audited_by_pip_audit,
            "audited_by_project_json": self.audited_by_project_json,
            "unaudited": self.unaudited,
            "vulnerabilities": [finding(f) for f in self.findings],
            "ignored": [finding(f) | {"reason": reason} for f, reason in self.ignored],
            "ok": self.ok,
            "summary": self.summary(),
        }


def pip_audit_binary() -> str:
    beside = Path(sys.executable).parent / "pip-audit"
    found = str(beside) if beside.exists() else shutil.which("pip-audit")
    if found is None:
        raise ImageError("pip-audit is missing: install the dev dependencies")
    return found


def pip_audit_command(lock: Path, output: Path) -> list[str]:
    return [
        pip_audit_binary(),
        "--requirement", str(lock),
        "--require-hashes",
        "--disable-pip",  # the lock is complete and hashed: nothing to resolve or install
        "--vulnerability-service", "pypi",
        "--format", "json",
        "--output", str(output),
        "--progress-spinner", "off",
    ]  # fmt: skip


# A project's JSON (https://pypi.org/pypi/<name>/json), or None when it cannot be had.
ProjectFetcher = Callable[[str], dict[str, Any] | None]


def fetch_project(name: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(PYPI_JSON.format(name=name), timeout=20.0, follow_redirects=True)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data


def _from_project(name: str, version: str, project: dict[str, Any] | None) -> list[Finding] | None:
    """The vulnerabilities of `version` if the project's JSON can tell (it lists those of its
    newest release only), else None."""
    if project is None or project.get("info", {}).get("version") != version:
        return None
    found: list[Finding] = []
    for vuln in project.get("vulnerabilities") or []:
        if vuln.get("withdrawn"):
            continue
        found.append(
            Finding(
                name,
                version,
                str(vuln.get("id")),
                tuple(vuln.get("aliases") or ()),
                tuple(vuln.get("fixed_in") or ()),
                str(vuln.get("summary") or vuln.get("details") or "")[:300],
                "pypi-project-json",
            )
        )
    return found


def evaluate(
    report: dict[str, Any],
    pins: dict[str, str],
    ignores: Iterable[Ignore],
    fetch: ProjectFetcher = fetch_project,
) -> AuditResult:
    """Combine pip-audit's report with the projects' JSON for what it could not audit, and
    sort the vulnerabilities found into failing and ignored."""
    reasons = {ignore.id: ignore.reason for ignore in ignores}
    result = AuditResult(total=len(report.get("dependencies", [])))
    found: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    for dep in report.get("dependencies", []):
        name, version = (
            normalize(dep["name"]),
            dep.get("version") or pins.get(normalize(dep["name"]), "?"),
        )
        if "skip_reason" in dep:
            skipped.append((name, version))
            continue
        result.audited_by_pip_audit += 1
        found += [
            Finding(
                name,
                version,
                str(v["id"]),
                tuple(v.get("aliases") or ()),
                tuple(v.get("fix_versions") or ()),
                str(v.get("description") or "")[:300],
                "pip-audit",
            )
            for v in dep.get("vulns", [])
        ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        projects = list(pool.map(lambda item: fetch(item[0]), skipped))
    for (name, version), project in zip(skipped, projects, strict=True):
        from_project = _from_project(name, version, project)
        if from_project is None:
            result.unaudited.append(f"{name}=={version}")
        else:
            result.audited_by_project_json += 1
            found += from_project
    for item in found:
        reason = next((reasons[n] for n in sorted(item.names()) if n in reasons), None)
        if reason is None:
            result.findings.append(item)
        else:
            result.ignored.append((item, reason))
    return result


def audit(layout: Layout, fetch: ProjectFetcher = fetch_project) -> AuditResult:
    """Run pip-audit on the runtime lock, write build/image/vulnerabilities.json (and
    pip-audit's own report beside it) and return the result."""
    layout.build.mkdir(parents=True, exist_ok=True)
    ignores = parse_ignores(layout.audit_ignore.read_text(encoding="utf-8"))
    # pip-audit exits 1 when it found something: the report says what, judged below.
    done = run(pip_audit_command(layout.requirements_lock, layout.pip_audit_raw), check=False)
    if not layout.pip_audit_raw.exists() or done.returncode not in (0, 1):
        raise ImageError(f"pip-audit failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    report = json.loads(layout.pip_audit_raw.read_text(encoding="utf-8"))
    pins = lock_pins(layout.requirements_lock.read_text(encoding="utf-8"))
    result = evaluate(report, pins, ignores, fetch)
    layout.vulnerabilities.write_text(
        json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return result
