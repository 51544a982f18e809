"""The chart's crds/ are byte-identical copies of the single source in /crds (`make sync-crds`
copies them)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "crds"
CHART_CRDS = ROOT / "helm" / "heartbeat" / "crds"


def test_chart_crds_are_copies_of_the_source() -> None:
    source = {p.name: p.read_bytes() for p in sorted(SOURCE.glob("*.yaml"))}
    shipped = {p.name: p.read_bytes() for p in sorted(CHART_CRDS.glob("*.yaml"))}
    assert source, "no CRDs in /crds"
    assert sorted(shipped) == sorted(source), "run `make sync-crds`"
    stale = [name for name in source if shipped[name] != source[name]]
    assert not stale, f"{stale} differ from /crds: run `make sync-crds`"


def test_chart_ships_nothing_else_in_crds() -> None:
    assert {p.suffix for p in CHART_CRDS.iterdir()} == {".yaml"}
