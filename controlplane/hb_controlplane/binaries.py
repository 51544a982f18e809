"""Where the control-plane binaries (and the alerting tests' Alertmanager and Prometheus) live,
and building them when they are missing.

The path logic mirrors scripts/build-controlplane.sh: both read versions.env and derive the same
cache key, so a version bump switches both to a fresh directory.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
VERSIONS_FILE = PACKAGE_DIR / "versions.env"
REPO_ROOT = PACKAGE_DIR.parents[1]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-controlplane.sh"

BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "etcd",
    "kwok",
    "helm",
)
# Built by the same script into a directory keyed by their own versions (monitoring_dir).
MONITORING_BINARIES = ("alertmanager", "prometheus")


class BuildError(RuntimeError):
    """The binaries are missing and could not be built."""


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    etcd: str
    kwok: str
    helm: str

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_kwok-{self.kwok}_helm-{self.helm}"


def parse_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines; the file must stay sourceable by the shell, so keep it that simple."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class MonitoringVersions:
    alertmanager: str
    prometheus: str

    @property
    def key(self) -> str:
        return f"alertmanager-{self.alertmanager}_prometheus-{self.prometheus}"


def read_monitoring_versions(path: Path = VERSIONS_FILE) -> MonitoringVersions:
    values = parse_env_file(path)
    try:
        return MonitoringVersions(alertmanager=values["ALERTMANAGER_VERSION"],
                                  prometheus=values["PROMETHEUS_VERSION"])
    except KeyError as exc:
        raise BuildError(f"{path} does not define {exc.args[0]}") from exc


def monitoring_dir(versions: MonitoringVersions | None = None) -> Path:
    return cache_root() / "monitoring" / (versions or read_monitoring_versions()).key / "bin"


def read_versions(path: Path = VERSIONS_FILE) -> Versions:
    values = parse_env_file(path)
    try:
        return Versions(
            kubernetes=values["KUBERNETES_VERSION"],
            etcd=values["ETCD_VERSION"],
            kwok=values["KWOK_VERSION"],
            helm=values["HELM_VERSION"],
        )
    except KeyError as exc:
        raise BuildError(f"{path} does not define {exc.args[0]}") from exc


def cache_root() -> Path:
    base = os.environ.get("HB_CACHE_DIR") or str(Path.home() / ".cache" / "heartbeat-operator")
    return Path(base)


def cache_dir(versions: Versions | None = None) -> Path:
    return cache_root() / "controlplane" / (versions or read_versions()).key


def bin_dir(versions: Versions | None = None) -> Path:
    return cache_dir(versions) / "bin"


def stages_dir(versions: Versions | None = None) -> Path:
    return cache_dir(versions) / "stages"


def binary(name: str, versions: Versions | None = None) -> Path:
    if name in MONITORING_BINARIES:
        return monitoring_dir() / name
    if name not in BINARIES:
        raise ValueError(f"unknown control-plane binary {name!r}")
    return bin_dir(versions) / name


def stage_files(versions: Versions | None = None) -> list[Path]:
    return sorted(stages_dir(versions).glob("*.yaml"))


def missing(versions: Versions | None = None) -> list[str]:
    """Names of what is not in the cache yet (binaries, plus "kwok stages")."""
    absent = [n for n in BINARIES + MONITORING_BINARIES
              if not os.access(binary(n, versions), os.X_OK)]
    if not stage_files(versions):
        absent.append("kwok stages")
    return absent


def ensure_built() -> Path:
    """Return the bin directory, running the build script first when something is missing.

    A cold build takes 30-55 minutes on 2 cores; the script holds a lock, so concurrent callers
    wait for one build instead of starting a second one.
    """
    absent = missing()
    if not absent:
        return bin_dir()
    if not BUILD_SCRIPT.is_file():
        raise BuildError(f"missing {', '.join(absent)} and no build script at {BUILD_SCRIPT}")
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise BuildError(
            f"{BUILD_SCRIPT} failed with exit code {result.returncode} "
            "(its progress and the error are on stderr above)"
        )
    still = missing()
    if still:
        raise BuildError(f"{BUILD_SCRIPT} succeeded but {', '.join(still)} are still missing")
    return bin_dir()
