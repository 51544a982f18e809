"""`hb operator`: the Kopf operator, as the chart's operator Deployment runs it.

`heartbeat_operator.main.run(argv)` derives `kopf run` flags from the environment (the
namespaces of HB_NAMESPACES, all when empty; the liveness endpoint of HB_LIVENESS) and peers
with other replicas unless --standalone is given. Further arguments go to `kopf run`.
"""

from __future__ import annotations

from collections.abc import Sequence


def run(extra: Sequence[str], standalone: bool) -> int:
    from heartbeat_operator.main import run as run_operator

    return run_operator([*(["--standalone"] if standalone else []), *extra])
