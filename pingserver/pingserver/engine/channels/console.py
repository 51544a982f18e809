"""Console channel: the alert printed as one line on the notifier's standard output.

For the local stack (`hb dev stack`), where the notifier shares the user's terminal, and for
deployments that collect alerts from container logs. Config: {"up": true, "late": true}
(kinds switched off with false). Delivery is recorded in the notification log like any other.
"""

from __future__ import annotations

import sys
from typing import Any

from pingserver.config import Settings
from pingserver.engine.channels import Alert, iso, toggled
from pingserver.engine.channels.templates import REASONS, duration, headline


def line(alert: Alert, site_root: str) -> str:
    """`ALERT DOWN | backup: <reason> (since <time>) <dashboard link>`."""
    c = alert.check.config
    detail = REASONS.get(alert.reason, alert.reason)
    if alert.kind == "down" and alert.reason == "timeout":
        detail = (f"no ping for {duration(int(c['timeout']) * 1000)} + grace "
                  f"{duration(int(c['grace']) * 1000)}")
    elif alert.kind == "up" and alert.downtime_ms:
        detail = f"back up after {duration(alert.downtime_ms)}"
    return (f"ALERT {headline(alert)}: {detail} (at {iso(alert.ts)}) "
            f"{site_root}/dashboard/checks/{alert.check.uuid}")


class ConsoleTransport:
    def __init__(self, settings: Settings) -> None:
        self.site_root = settings.site_root

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return toggled(config, kind)

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return False

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        # print() holds the stream's lock: lines of concurrent deliveries do not interleave.
        print(line(alert, self.site_root), file=sys.stdout, flush=True)
