"""deploy/k8s: valid against Kubernetes' schemas (strict), and consistent with each other."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from signer.settings import Settings, env_values
from tests.deploy.support import K8S, load_yaml, mebibytes, not_settings

#: The oldest Kubernetes the manifests claim, and the newest the pinned package ships.
K8S_VERSIONS = ("1.30", "1.37")
CORE = (
    "configmap.yaml",
    "deployment.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "secret.example.yaml",
    "service.yaml",
)
LABELS = {
    "app.kubernetes.io/name": "tiktok-signer",
    "app.kubernetes.io/instance": "tiktok-signer",
    "app.kubernetes.io/component": "signer",
    "app.kubernetes.io/part-of": "tiktok-signer",
}
#: Where Chromium keeps its profile and shared memory (a mount path, not a file opened here).
TMP = "/tmp"  # noqa: S108
#: The memory target of the README's benchmark (PSS, 2 browser pages).
MEMORY_TARGET_MIB = 600

MANIFESTS = {name: load_yaml(K8S / name) for name in (*CORE, "servicemonitor.yaml")}
DEPLOYMENT = MANIFESTS["deployment.yaml"]
POD: dict[str, Any] = DEPLOYMENT["spec"]["template"]["spec"]
CONTAINER: dict[str, Any] = POD["containers"][0]
SERVICE = MANIFESTS["service.yaml"]
CONFIG: dict[str, str] = MANIFESTS["configmap.yaml"]["data"]
SECRET: dict[str, str] = MANIFESTS["secret.example.yaml"]["stringData"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", CORE)
def test_manifest_matches_the_kubernetes_schema(name: str, version: str) -> None:
    """Each core manifest validates strictly (no unknown field) against Kubernetes' schema."""
    kubernetes_validate.validate(MANIFESTS[name], version, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The validator really is strict: a misspelt container field fails."""
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    """kustomization.yaml applies every manifest in the directory except the example Secret."""
    resources = load_yaml(K8S / "kustomization.yaml")["resources"]
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(resources) == sorted(present - {"secret.example.yaml"})


def test_every_manifest_carries_the_same_labels() -> None:
    """All manifests and the pod template carry the same four labels and one name."""
    for name, manifest in MANIFESTS.items():
        assert manifest["metadata"]["labels"] == LABELS, name
        assert manifest["metadata"]["name"] == "tiktok-signer", name
    assert DEPLOYMENT["spec"]["template"]["metadata"]["labels"] == LABELS


def test_service_pdb_and_hpa_point_at_the_deployment() -> None:
    """The Service and the PDB select the Deployment's pods; the HPA scales the Deployment."""
    selector = DEPLOYMENT["spec"]["selector"]["matchLabels"]
    pod_labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert SERVICE["spec"]["selector"] == selector
    assert MANIFESTS["pdb.yaml"]["spec"]["selector"]["matchLabels"] == selector
    target = MANIFESTS["hpa.yaml"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert "replicas" not in DEPLOYMENT["spec"]  # the HPA owns the count


def test_service_targets_the_container_port() -> None:
    """The Service's port goes to the container's named port, which is SIGNER_PORT."""
    ports = {port["name"]: port["containerPort"] for port in CONTAINER["ports"]}
    (service_port,) = SERVICE["spec"]["ports"]
    assert service_port["targetPort"] in ports
    assert ports[service_port["targetPort"]] == int(CONFIG["SIGNER_PORT"])


@pytest.mark.parametrize("probe", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_probe_hits_health_on_the_container_port(probe: str) -> None:
    """Every probe is GET /health on the port the service listens on."""
    ports = {port["name"]: port["containerPort"] for port in CONTAINER["ports"]}
    get = CONTAINER[probe]["httpGet"]
    assert get["path"] == "/health"
    assert ports.get(get["port"], get["port"]) == int(CONFIG["SIGNER_PORT"])


def test_draining_fails_readiness_but_not_liveness() -> None:
    """Readiness fails within the drain delay; liveness tolerates a whole drain and shutdown."""
    drain = float(CONFIG["SIGNER_DRAIN_DELAY_S"])
    shutdown = float(CONFIG["SIGNER_SHUTDOWN_TIMEOUT_S"])
    readiness, liveness = CONTAINER["readinessProbe"], CONTAINER["livenessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < drain
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain + shutdown
    assert "lifecycle" not in CONTAINER  # no preStop: SIGNER_DRAIN_DELAY_S does the waiting


def test_grace_period_outlasts_drain_and_shutdown() -> None:
    """The pod's grace period exceeds SIGNER_DRAIN_DELAY_S + SIGNER_SHUTDOWN_TIMEOUT_S."""
    drain = float(CONFIG["SIGNER_DRAIN_DELAY_S"])
    shutdown = float(CONFIG["SIGNER_SHUTDOWN_TIMEOUT_S"])
    assert POD["terminationGracePeriodSeconds"] > drain + shutdown


def test_resources_fit_the_memory_benchmark() -> None:
    """The memory request covers the 600 MiB target and the limit leaves headroom above it."""
    resources = CONTAINER["resources"]
    request = mebibytes(resources["requests"]["memory"])
    limit = mebibytes(resources["limits"]["memory"])
    assert request >= MEMORY_TARGET_MIB
    assert limit >= 1.5 * MEMORY_TARGET_MIB
    assert limit > request
    assert "cpu" in resources["requests"]  # the HPA's utilisation is relative to it


def test_runs_as_uid_10001_on_a_read_only_root() -> None:
    """Non-root uid 10001, read-only root, no privilege escalation, no capabilities."""
    assert POD["securityContext"]["runAsUser"] == 10001
    assert POD["securityContext"]["runAsNonRoot"] is True
    context = CONTAINER["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_writable_paths_are_volumes_and_the_image_sdk_files_stay_visible() -> None:
    """The temporary and data dirs are emptyDirs; no mount hides the image's SDK files."""
    volumes = {volume["name"]: volume for volume in POD["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in CONTAINER["volumeMounts"]}
    for path in (TMP, CONFIG["SIGNER_DATA_DIR"]):
        assert "emptyDir" in volumes[mounts[path]], path
    sdk = CONFIG["SIGNER_SDK_CACHE_DIR"]
    assert not any(sdk == path or sdk.startswith(path + "/") for path in mounts), sdk


def test_environment_comes_from_the_configmap_and_the_secret() -> None:
    """The container's envFrom names the ConfigMap and the (example) Secret of this directory."""
    sources = {
        next(iter(source)): next(iter(source.values()))["name"] for source in CONTAINER["envFrom"]
    }
    assert sources == {
        "configMapRef": MANIFESTS["configmap.yaml"]["metadata"]["name"],
        "secretRef": MANIFESTS["secret.example.yaml"]["metadata"]["name"],
    }


def test_every_variable_the_pod_gets_is_a_setting() -> None:
    """Each env name of the ConfigMap, the Secret and the container maps to a Settings field."""
    names = [*CONFIG, *SECRET, *(variable["name"] for variable in CONTAINER.get("env", []))]
    assert not_settings(names) == []


def test_configmap_and_secret_build_valid_settings() -> None:
    """The ConfigMap with the example Secret is a valid environment for the service."""
    settings = Settings.model_validate(env_values({**CONFIG, **SECRET})[0])
    assert settings.host == "0.0.0.0"
    assert settings.workers == 1


def test_example_secret_holds_only_placeholders() -> None:
    """Every value of the example Secret says it is fake."""
    assert all("CHANGE-ME-fake" in value for value in SECRET.values())
    assert set(SECRET) == {
        "SIGNER_REDIS_URL",
        "SIGNER_DATABASE_URL",
        "SIGNER_SECRET_KEY",
        "SIGNER_ADMIN_KEY",
    }


def test_servicemonitor_scrapes_metrics_through_a_service_port() -> None:
    """No installed package ships the CRD's schema: its shape, checked against the Service."""
    monitor = MANIFESTS["servicemonitor.yaml"]
    assert (monitor["apiVersion"], monitor["kind"]) == (
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
    )
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= SERVICE["metadata"]["labels"].items()
    port_names = {port["name"] for port in SERVICE["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
