"""The chart's PrometheusRule (prometheusRule.*): off by default, and what it renders when on.
A real Prometheus evaluates the rendered rule in tests/integration/test_prometheus_rule.py."""

from __future__ import annotations

from tests.unit.test_chart_render import render, render_error


def test_off_by_default() -> None:
    assert not [d for d in render() if d["kind"] == "PrometheusRule"]


def test_rule_alerts_on_down_checks() -> None:
    docs = render("prometheusRule.enabled=true", "prometheusRule.for=2m",
                  "prometheusRule.severity=page", "prometheusRule.alertLabels.team=data",
                  "prometheusRule.labels.release=prometheus")
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    [alert] = rule["spec"]["groups"][0]["rules"]
    assert alert["alert"] == "HeartbeatCheckDown"
    assert alert["expr"] == 'max by (project, check, name) (hb_check_state{state="down"}) > 0'
    assert alert["for"] == "2m"
    assert alert["labels"] == {"severity": "page", "team": "data"}
    assert alert["annotations"]["summary"] == "Check {{ $labels.name }} is down"


def test_bad_values_are_refused() -> None:
    assert "prometheusRule" in render_error("prometheusRule.for=soon")
    assert "prometheusRule" in render_error("prometheusRule.unknown=1")
