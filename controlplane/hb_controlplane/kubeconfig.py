"""Admin kubeconfig for the test control plane."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from hb_controlplane.certs import Pki

CONTEXT = "hb-controlplane"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(path: Path, server: str, pki: Pki) -> Path:
    """Write a self-contained kubeconfig (data embedded, so it survives copying elsewhere)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server, "certificate-authority-data": _b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": _b64(pki.client_cert),
                    "client-key-data": _b64(pki.client_key),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin"}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
