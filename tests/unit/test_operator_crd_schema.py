"""The HeartbeatSilence CRD and the HeartbeatCheck additions, read from /crds: every field
described (`kubectl explain`), the rules of spec.py also in the schema, the printer columns.
What the API server does with them is tested in tests/k8s/test_operator_silences.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SILENCES = ROOT / "crds" / "heartbeatsilences.heartbeat.dev.yaml"
CHECKS = ROOT / "crds" / "heartbeatchecks.heartbeat.dev.yaml"


def version(path: Path) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    (only,) = crd["spec"]["versions"]
    return dict(only)


def properties(schema: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Any]]:
    for name, sub in (schema.get("properties") or {}).items():
        yield f"{path}.{name}", sub
        yield from properties(sub, f"{path}.{name}")
        if "items" in sub:
            yield from properties(sub["items"], f"{path}.{name}[]")


def test_heartbeatsilence_names_and_scope() -> None:
    crd = yaml.safe_load(SILENCES.read_text())
    assert crd["spec"]["group"] == "heartbeat.dev" and crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "HeartbeatSilence"
    assert crd["spec"]["names"]["shortNames"] == ["hbs"]
    v = version(SILENCES)
    assert v["name"] == "v1alpha1" and v["subresources"] == {"status": {}}


def test_every_heartbeatsilence_field_is_described() -> None:
    schema = version(SILENCES)["schema"]["openAPIV3Schema"]
    missing = [path for path, sub in properties(schema)
               if path != ".metadata" and not sub.get("description")]
    assert not missing, f"fields without a description: {missing}"


def test_heartbeatsilence_spec_fields_and_rules() -> None:
    spec = version(SILENCES)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["properties"]) == {"matchers", "startsAt", "endsAt", "duration",
                                       "schedule", "timeZone", "comment", "createdBy"}
    assert spec["properties"]["startsAt"]["format"] == "date-time"
    assert spec["properties"]["endsAt"]["format"] == "date-time"
    messages = {rule["message"] for rule in spec["x-kubernetes-validations"]}
    assert {"schedule needs duration (the length of each window)",
            "set endsAt, duration or schedule", "endsAt must be after startsAt",
            "timeZone applies to schedule only"} <= messages
    assert spec["properties"]["matchers"]["maxItems"] == 19  # + the namespace matcher = 20


def test_heartbeatsilence_status_and_printer_columns() -> None:
    v = version(SILENCES)
    status = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["state"]["enum"] == ["active", "pending", "expired", "unknown"]
    assert status["matchedChecks"]["type"] == "integer"
    assert {"silenceID", "conditions", "startsAt", "endsAt"} <= set(status)
    shown = [c["name"] for c in v["additionalPrinterColumns"] if not c.get("priority")]
    assert shown == ["State", "Matched", "Starts", "Ends", "Schedule", "Age"]


def test_heartbeatcheck_depends_on_and_muted() -> None:
    v = version(CHECKS)
    schema = v["schema"]["openAPIV3Schema"]["properties"]
    depends = schema["spec"]["properties"]["dependsOn"]
    assert depends["maxItems"] == 20 and depends["items"]["pattern"]
    assert depends["description"]
    assert schema["status"]["properties"]["muted"]["description"]
    columns = {c["name"]: c for c in v["additionalPrinterColumns"]}
    assert columns["Muted"]["jsonPath"] == ".status.muted"
    assert not columns["Muted"].get("priority")  # `kubectl get hbc` shows it
