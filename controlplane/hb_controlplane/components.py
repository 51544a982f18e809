"""Command lines of the control-plane components (flags follow envtest and kwokctl)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

from hb_controlplane.certs import Pki

CONTROLLERS = (
    "job-controller",
    "cronjob-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "ttl-after-finished-controller",
)
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_CIDR = "10.0.0.0/24"


def free_port() -> int:
    """A loopback port that was free a moment ago (the kernel won't hand it out again at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)


def etcd_args(binary: Path, data_dir: Path, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binary),
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # Test data is disposable; fsync dominates etcd latency on slow CI disks.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_args(binary: Path, cert_dir: Path, pki: Pki, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={pki.server_cert}",
        f"--tls-private-key-file={pki.server_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer=https://127.0.0.1:{ports.apiserver}/",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
        # ServiceAccount: no controller creates the "default" ServiceAccount, so pods would be
        # rejected. TaintNodesByCondition: it taints every new Node not-ready, and only the
        # node-lifecycle controller (not run here) would lift it, so nothing could schedule.
        "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
    ]


def controller_manager_args(binary: Path, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--controllers={','.join(CONTROLLERS)}",
        "--leader-elect=false",
        "--secure-port=0",
        # The defaults (20/30) throttle the GC's discovery sweep and slow namespace deletion.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
    ]


def scheduler_args(binary: Path, kubeconfig: Path, pki: Pki, ports: Ports) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        # The scheduler cannot disable its secure port, so give it a free one; the apiserver's
        # serving cert (valid for 127.0.0.1) lets the readiness probe verify TLS.
        f"--secure-port={ports.scheduler}",
        f"--tls-cert-file={pki.server_cert}",
        f"--tls-private-key-file={pki.server_key}",
    ]


def kwok_args(binary: Path, kubeconfig: Path, stages: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        # The bare kwok binary has no built-in stages: it exits with "no stages found" without it.
        f"--config={stages}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
        "--manage-nodes-with-label-selector=",
        "--manage-single-node=",
        f"--cidr={KWOK_CIDR}",
        "--node-ip=10.0.0.1",
        "--node-lease-duration-seconds=40",
    ]


def fake_node(name: str) -> client.V1Node:
    """A Node that kwok manages: no taint, so Job pods schedule without tolerations."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    return client.V1Node(
        api_version="v1",
        kind="Node",
        metadata=client.V1ObjectMeta(
            name=name, annotations={FAKE_NODE_ANNOTATION: "fake"}, labels=labels
        ),
        spec=client.V1NodeSpec(),
        status=client.V1NodeStatus(allocatable=resources, capacity=resources),
    )


def concat_stages(stage_files: list[Path], target: Path) -> Path:
    """kwok takes one --config file; Stage documents are joined as a YAML stream."""
    docs = [path.read_text().strip() for path in stage_files]
    target.write_text("\n---\n".join(docs) + "\n")
    return target
