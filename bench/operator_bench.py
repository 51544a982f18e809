"""Operator scale on loopback (a benchmark, not a test: it prints figures). Issue 5.

    .venv/bin/python bench/operator_bench.py [--checks 10000] [--minutes 3] [--warmup 1]

1. A real control plane (etcd + kube-apiserver only), the CRDs, Redis, `hb server`, `hb worker`.
2. N HeartbeatChecks created in one namespace (thread pool) BEFORE the operator starts.
3. `python -m hb operator --standalone` watching that namespace: seconds from its start until
   every object has Ready=True and status.pingURL (polled with a cheap list, rv=0).
4. Every check is pinged once per minute through its ping URL, spread over the minute. After
   `--warmup` minutes (the first ping of each check flips it new -> up: N flips), the
   kube-apiserver's `apiserver_request_total` (write verbs) is read before and after a
   `--minutes` window; the flips in the window come from the ping server's flips feed.
   Target: writes/min <= flips/min + N/5 (one status write per check per 5 minutes).

The operator runs with its production defaults (HB_LASTPING_REFRESH=5m, HB_DRIFT_INTERVAL=5m,
HB_FEED_INTERVAL=5s) unless `--env NAME=VALUE` says otherwise. Everything started here is
stopped at the end, on failure and on Ctrl-C too. Bounded: `--ready-timeout` for step 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from kubernetes import client, watch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hb_controlplane.binaries import ensure_built  # noqa: E402
from hb_controlplane.cluster import ControlPlane  # noqa: E402
from heartbeat_operator import constants  # noqa: E402
from tests.k8s.test_operator_harness import (  # noqa: E402
    API_KEY,
    CLUSTER_SECRET,
    CRD_NAMES,
    CRDS_DIR,
    PING_KEY,
    OperatorProcess,
    Stack,
    is_ready,
)

G, V, PLURAL = constants.GROUP, constants.VERSION, constants.CHECK_PLURAL
NAMESPACE = "bench"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}
METRIC_RE = re.compile(r'^apiserver_request_total\{([^}]*)\}\s+([0-9.e+]+)$')
LABEL_RE = re.compile(r'(\w+)="([^"]*)"')


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- Kubernetes side ---------------------------------------------------------------------------


def write_counts(cp: ControlPlane) -> Counter[str]:
    """apiserver_request_total of the write verbs, by resource (subresource appended)."""
    counts: Counter[str] = Counter()
    for line in cp.kubectl("get", "--raw", "/metrics", timeout=60).splitlines():
        match = METRIC_RE.match(line)
        if not match:
            continue
        labels = dict(LABEL_RE.findall(match.group(1)))
        if labels.get("verb") not in WRITE_VERBS:
            continue
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[f"{labels['verb']} {resource}"] += int(float(match.group(2)))
    return counts


def operator_writes(counts: Counter[str]) -> int:
    """Writes to what the operator touches (not the apiserver's own leases/endpoints)."""
    mine = ("heartbeatchecks", "events", "configmaps", "secrets", "kopfpeerings")
    return sum(n for key, n in counts.items() if key.split(" ")[1].split("/")[0] in mine)


def create_checks(api: client.ApiClient, count: int, threads: int, spec: dict[str, str]
                  ) -> float:
    custom = client.CustomObjectsApi(api)

    def create(i: int) -> None:
        body = {"apiVersion": f"{G}/{V}", "kind": constants.CHECK_KIND,
                "metadata": {"name": f"c{i:05d}"},
                "spec": dict(spec)}
        for attempt in range(5):
            try:
                custom.create_namespaced_custom_object(G, V, NAMESPACE, PLURAL, body)
                return
            except client.ApiException as exc:
                if exc.status == 409:
                    return
                if attempt == 4 or exc.status not in (429, 500, 503, 504):
                    raise
                time.sleep(0.5 * (attempt + 1))

    began = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, range(count)))
    return time.monotonic() - began


def list_checks(api: client.ApiClient) -> list[dict[str, Any]]:
    """One list from the watch cache (resourceVersion=0), parsed without model classes."""
    response = client.CustomObjectsApi(api).list_namespaced_custom_object(
        G, V, NAMESPACE, PLURAL, resource_version="0", _preload_content=False,
        _request_timeout=120)
    data: dict[str, Any] = json.loads(response.data)  # type: ignore[attr-defined]
    return list(data.get("items") or [])


class ReadyWatcher:
    """Counts Ready checks from one list and a watch: polling a list of 10,000 objects
    every few seconds would cost the API server more than the operator under test."""

    def __init__(self, api: client.ApiClient) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ReadyWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def urls(self) -> dict[str, str]:
        with self._lock:
            return dict(self._urls)

    def _apply(self, item: dict[str, Any], deleted: bool = False) -> None:
        status, name = item.get("status") or {}, item["metadata"]["name"]
        with self._lock:
            if not deleted and is_ready(status) and status.get("pingURL"):
                self._urls[name] = str(status["pingURL"])
            else:
                self._urls.pop(name, None)

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            if not version:
                response = self._custom.list_namespaced_custom_object(
                    G, V, NAMESPACE, PLURAL, _preload_content=False, _request_timeout=120)
                data = json.loads(response.data)  # type: ignore[attr-defined]
                with self._lock:
                    self._urls.clear()
                for item in data.get("items") or []:
                    self._apply(item)
                version = str(data["metadata"]["resourceVersion"])
            try:
                for event in watch.Watch().stream(
                        self._custom.list_namespaced_custom_object, G, V, NAMESPACE, PLURAL,
                        resource_version=version, timeout_seconds=60):
                    if self._stop.is_set():
                        return
                    obj = event["object"]
                    version = str(obj["metadata"]["resourceVersion"])
                    self._apply(obj, deleted=event["type"] == "DELETED")
            except client.ApiException as exc:
                if exc.status != 410:
                    raise
                version = ""  # too old: list again


# -- pings -----------------------------------------------------------------------------------


class Pinger:
    """Pings every URL once per minute, spread evenly, from a bounded thread pool."""

    def __init__(self, urls: list[str], threads: int) -> None:
        self.urls = urls
        self.pool = ThreadPoolExecutor(threads)
        self.local = threading.local()
        self.ok = 0
        self.failed = 0
        self.late = 0.0  # worst lag of a submission behind its slot, seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False
            self.local.session = session
        return session

    def _ping(self, url: str) -> None:
        try:
            good = self._session().get(url, timeout=10).status_code == 200
        except requests.RequestException:
            good = False
        with self._lock:
            if good:
                self.ok += 1
            else:
                self.failed += 1

    def _run(self) -> None:
        step = 60.0 / len(self.urls)
        start = time.monotonic()
        i = 0
        while not self._stop.is_set():
            slot = start + i * step
            delay = slot - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                self.late = max(self.late, -delay)
            if self._stop.is_set():
                break
            self.pool.submit(self._ping, self.urls[i % len(self.urls)])
            i += 1

    def start(self) -> Pinger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.pool.shutdown(wait=True, cancel_futures=True)


def flips_between(stack: Stack, start_ms: int, end_ms: int) -> tuple[int, Counter[str]]:
    """Flips with start_ms <= timestamp < end_ms, from the ping server's feed (all of it)."""
    count = 0
    kinds: Counter[str] = Counter()
    cursor = ""
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = stack.api("GET", "/flips/", params=params)
        response.raise_for_status()
        body = response.json()
        flips = body.get("flips") or []
        for flip in flips:
            at = flip_ms(flip.get("timestamp"))
            if at is not None and start_ms <= at < end_ms:
                count += 1
                kinds[f"{flip.get('old')}->{flip.get('new')}"] += 1
        new_cursor = str(body.get("cursor") or cursor)
        if not flips or new_cursor == cursor:
            break
        cursor = new_cursor
    return count, kinds


def flip_ms(value: Any) -> int | None:
    if isinstance(value, int | float):
        return int(value if value > 1e11 else value * 1000)
    if isinstance(value, str) and value:
        from datetime import datetime
        with contextlib.suppress(ValueError):
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    return None


# -- the run ---------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> dict[str, Any]:
    n: int = args.checks
    summary: dict[str, Any] = {"checks": n, "command": " ".join(
        shlex.quote(a) for a in [".venv/bin/python", "bench/operator_bench.py", *sys.argv[1:]])}
    with contextlib.ExitStack() as cleanup:
        log("starting etcd + kube-apiserver")
        cp = ControlPlane(controllers=False, bin_dir=ensure_built())
        cleanup.callback(cp.stop)
        cp.start()
        cp.apply(CRDS_DIR)
        for name in CRD_NAMES:
            cp.wait_crd_established(name)
        api = cp.api_client()
        api.configuration.connection_pool_maxsize = args.threads + 4
        api.rest_client.pool_manager.connection_pool_kw["maxsize"] = args.threads + 4
        cleanup.callback(api.close)
        client.CoreV1Api(api).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))

        log("starting redis, hb server, hb worker")
        stack = Stack(worker=True)
        cleanup.callback(stack.stop)

        log(f"creating {n} HeartbeatChecks with {args.threads} threads")
        spec = {"period": args.period, "grace": args.grace}
        summary["check_spec"] = spec
        summary["create_seconds"] = round(create_checks(api, n, args.threads, spec), 1)
        summary["create_per_second"] = round(n / summary["create_seconds"], 1)
        log(f"created in {summary['create_seconds']} s ({summary['create_per_second']}/s)")

        env = {"KUBECONFIG": str(cp.kubeconfig), "HB_PINGSERVER_URL": stack.url,
               "HB_API_KEY": API_KEY, "HB_CLUSTER_SECRET": CLUSTER_SECRET,
               "HB_PING_KEY": PING_KEY, "HB_NAMESPACES": NAMESPACE}
        env.update(dict(kv.split("=", 1) for kv in args.env))
        summary["operator_env"] = {k: v for k, v in env.items() if k.startswith("HB_")
                                   and k not in ("HB_API_KEY", "HB_CLUSTER_SECRET",
                                                 "HB_PING_KEY")}
        writes_before_operator = write_counts(cp)
        pids = {proc.name: proc.pid for proc in cp._procs if proc.pid}
        pids.update({"hb server": stack.pingserver.proc.pid, "redis": stack.redis.proc.pid,
                     "hb worker": stack.worker.proc.pid})
        cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
        log("starting the operator (--standalone)")
        began = time.monotonic()
        operator = OperatorProcess(f"bench-{n}", env, ["--standalone"])
        cleanup.callback(operator.stop)
        summary["operator_log"] = str(operator.log)

        progress: list[tuple[float, int]] = []
        watcher = ReadyWatcher(api).start()
        cleanup.callback(watcher.stop)
        deadline = began + args.ready_timeout
        while True:
            if operator.proc.poll() is not None:
                raise RuntimeError(f"operator exited:\n{operator.output()[-3000:]}")
            urls = watcher.urls()
            ready, elapsed = len(urls), time.monotonic() - began
            progress.append((round(elapsed, 1), ready))
            if len(progress) % 5 == 1 or ready == n:
                log(f"  {elapsed:6.1f} s: {ready}/{n} Ready")
            if ready == n:
                break
            if time.monotonic() > deadline:
                summary["all_ready_seconds"] = None
                summary["ready_at_timeout"] = ready
                log(f"not all Ready after {args.ready_timeout} s: {ready}/{n}")
                break
            time.sleep(args.poll)
        if ready == n:
            summary["all_ready_seconds"] = round(time.monotonic() - began, 1)
        summary["ready_progress"] = progress[:: max(1, len(progress) // 20)] + progress[-1:]
        summary["ready_target_seconds"] = 120
        summary["ready_target_met"] = bool(summary["all_ready_seconds"] is not None
                                           and summary["all_ready_seconds"] <= 120)
        startup_writes = write_counts(cp) - writes_before_operator
        summary["startup_writes"] = dict(startup_writes.most_common())
        summary["operator_cpu_seconds_to_ready"] = round(proc_cpu_seconds(operator.proc.pid), 1)
        # The rest of the two cores: where the time went that the operator did not use.
        summary["cpu_seconds_to_ready_by_component"] = {
            name: round(proc_cpu_seconds(pid) - cpu_before[name], 1)
            for name, pid in pids.items()}
        if not urls or args.minutes == 0:
            return summary

        log(f"pinging {len(urls)} checks once a minute; warm-up {args.warmup} min")
        pinger = Pinger(sorted(urls.values()), args.ping_threads).start()
        cleanup.callback(pinger.stop)
        time.sleep(args.warmup * 60)
        # The operator reports the warm-up's new -> up flips with a lag: let it catch up, or
        # the window counts backlog writes for flips that happened before it.
        settle_began, settle_end = time.monotonic(), time.monotonic() + args.settle_timeout
        while time.monotonic() < settle_end:
            states = Counter(str((i.get("status") or {}).get("state")) for i in list_checks(api))
            if states.get("up", 0) >= n:
                break
            log(f"  waiting for the operator to report the warm-up flips: {dict(states)}")
            time.sleep(5)
        summary["warmup_flip_backlog_seconds"] = round(time.monotonic() - settle_began, 1)

        log(f"steady-state window: {args.minutes} min")
        cpu0 = proc_cpu_seconds(operator.proc.pid)
        before = write_counts(cp)
        t0_ms, t0 = int(time.time() * 1000), time.monotonic()
        window_end = t0 + args.minutes * 60
        while time.monotonic() < window_end:
            if operator.proc.poll() is not None:
                raise RuntimeError(f"operator exited:\n{operator.output()[-3000:]}")
            time.sleep(min(15.0, max(0.0, window_end - time.monotonic())))
            done = (time.monotonic() - t0) / 60
            log(f"  {done:4.1f} min: {operator_writes(write_counts(cp) - before)} writes, "
                f"pings ok {pinger.ok} failed {pinger.failed}")
        after = write_counts(cp)
        t1_ms, minutes = int(time.time() * 1000), (time.monotonic() - t0) / 60
        cpu1 = proc_cpu_seconds(operator.proc.pid)
        pinger.stop()

        delta = after - before
        writes = operator_writes(delta)
        all_writes = sum(delta.values())
        flips, kinds = flips_between(stack, t0_ms, t1_ms)
        target_per_min = flips / minutes + n / 5
        summary.update({
            "window_minutes": round(minutes, 2),
            "window_writes_by_resource": dict(delta.most_common()),
            "window_operator_writes": writes,
            "window_all_writes": all_writes,
            "writes_per_minute": round(writes / minutes, 1),
            "flips_in_window": flips,
            "flip_kinds": dict(kinds),
            "target_writes_per_minute": round(target_per_min, 1),
            "steady_target_met": writes / minutes <= target_per_min,
            "pings_ok": pinger.ok, "pings_failed": pinger.failed,
            "ping_schedule_worst_lag_s": round(pinger.late, 2),
            "operator_cpu_percent_steady": round(100 * (cpu1 - cpu0) / (minutes * 60), 1),
            "operator_health": operator.probe(),
        })
        return summary
    return summary  # pragma: no cover  (ExitStack does not swallow exceptions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="steady-state measurement window (at least 2; 0: measure only "
                        "the time to all Ready)")
    parser.add_argument("--warmup", type=float, default=1.25,
                        help="minutes of pinging before the window (first pings flip new->up)")
    parser.add_argument("--settle-timeout", type=float, default=900.0,
                        help="seconds to wait for status.state=up everywhere after warm-up")
    parser.add_argument("--period", default="2m", help="spec.period of every check")
    parser.add_argument("--grace", default="2m", help="spec.grace of every check")
    parser.add_argument("--threads", type=int, default=16, help="threads creating objects")
    parser.add_argument("--ping-threads", type=int, default=16)
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between Ready polls")
    parser.add_argument("--ready-timeout", type=float, default=900.0)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra operator environment, e.g. HB_LASTPING_REFRESH=5m")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    if 0 < args.minutes < 2 or args.minutes < 0:
        parser.error("--minutes: at least 2")
    if args.warmup < 1.1:
        parser.error("--warmup: at least 1.1 (every check's first ping flips it new -> up)")
    if args.checks < 1:
        parser.error("--checks: at least 1")
    with sigterm_as_interrupt():
        summary = run(args)
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
