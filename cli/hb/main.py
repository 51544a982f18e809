"""`hb`: one entry point for every role (servers, engine, operator) and for people.

Imports are local to each command so that `hb ping` in a job container stays quick and does
not need the server-side libraries.

Exit codes of `hb ping`, `hb sidecar`, `hb status` and `hb silence`: 0 accepted; 1 refused by
the server (4xx: unknown check, bad URL or key); 2 usage error (for `hb silence`, also a 400
from the API: its message names the field); 3 no answer in time (connection refused, timeout,
429 or 5xx after every retry). `hb run` exits with its command's code, whatever
happened to the pings (127: command not found, 126: not executable, 128+N: killed by signal N).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


# uvicorn's settings for `hb server`, named rather than left to "auto" so that a missing
# uvloop or httptools fails at start instead of silently serving far fewer pings.
# bench/ping_bench.py runs its do-nothing ceiling app through `hb server --app` as well, so
# both figures come from the same server settings.
UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "pingserver.httpwrites:HttpProtocol",  # httptools, one write per answer
    "access_log": False,
    "proxy_headers": False,  # X-Forwarded-* are read by the ping path itself
}


def cmd_server(args: argparse.Namespace) -> int:
    import uvicorn

    from pingserver.config import ConfigError, load

    try:
        load()  # fail fast, naming the variable, before workers start
    except ConfigError as exc:
        print(f"hb server: {exc}", file=sys.stderr)
        return 2
    _clear_multiprocess_metrics()
    uvicorn.run(args.app, factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, **UVICORN_OPTIONS)
    return 0


def _clear_multiprocess_metrics() -> None:
    """Several uvicorn workers share counters through files in PROMETHEUS_MULTIPROC_DIR; the
    files of an earlier run (a restarted container keeps its emptyDir) must go first, as
    prometheus_client asks."""
    from pathlib import Path

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if directory and Path(directory).is_dir():
        for stale in Path(directory).glob("*.db"):
            stale.unlink(missing_ok=True)


def cmd_engine(args: argparse.Namespace) -> int:
    from pingserver.config import ConfigError, load
    from pingserver.engine import run

    try:
        settings = load()
    except ConfigError as exc:
        print(f"hb {args.command}: {exc}", file=sys.stderr)
        return 2
    roles = {"sweeper": ("sweeper",), "notifier": ("notifier",),
             "worker": ("sweeper", "notifier")}[args.command]
    return run(settings, roles, metrics_port=args.metrics_port)


def cmd_project_create(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from pingserver.config import load
    from pingserver.store import Store

    async def create() -> dict[str, str]:
        store = Store.from_settings(load())
        try:
            project = await store.create_project(args.name)
        finally:
            await store.close()
        return project.__dict__

    print(json.dumps(asyncio.run(create()), indent=2))
    return 0


def cmd_dev_cluster(args: argparse.Namespace) -> int:
    from hb_controlplane.devcluster import run_dev_cluster

    return run_dev_cluster(with_controllers=not args.no_controllers)


def cmd_dev_stack(args: argparse.Namespace) -> int:
    from hb.devstack import run_stack

    return run_stack(port=args.port, workdir=args.dir)


def _policy(args: argparse.Namespace) -> Any:
    from hb.client import Policy, UsageError, parse_duration

    if not 0 <= args.retries <= 100:
        raise UsageError(f"--retries {args.retries}: must be between 0 and 100")
    return Policy(timeout=parse_duration(args.timeout), retries=args.retries,
                  max_time=parse_duration(args.max_time))


def _usage(prog: str, message: object) -> int:
    print(f"hb {prog}: {message}", file=sys.stderr)
    return 2


def cmd_ping(args: argparse.Namespace) -> int:
    from hb.client import UsageError, check_rid, ping, read_body, report

    if not args.url:
        return _usage("ping", "no ping URL: give one or set HB_PING_URL")
    try:
        policy = _policy(args)
        rid = check_rid(args.rid) if args.rid else None
        body = read_body(args.body_file, args.body_limit) if args.body_file else b""
        result = ping(args.url, policy, kind=args.kind, exit_status=args.exit, rid=rid,
                      body=body)
    except (UsageError, OSError) as exc:
        return _usage("ping", exc)
    report("hb ping", result, "ping")
    return result.exit_code


def cmd_run(args: argparse.Namespace) -> int:
    from hb.client import UsageError, check_rid
    from hb.run import run

    command = args.command_argv[1:] if args.command_argv[:1] == ["--"] else args.command_argv
    if not command:
        return _usage("run", "no command: hb run [--url URL] -- command [args...]")
    try:
        policy = _policy(args)
        rid = check_rid(args.rid) if args.rid else None
    except UsageError as exc:
        return _usage("run", exc)
    return run(command, args.url, policy, rid=rid, start=not args.no_start,
               body_limit=args.body_limit)


def cmd_sidecar(args: argparse.Namespace) -> int:
    from hb.client import UsageError, parse_duration, ping_url
    from hb.sidecar import run

    if not args.url:
        return _usage("sidecar", "no ping URL: give --url or set HB_PING_URL")
    try:
        ping_url(args.url)
        interval = parse_duration(args.interval)
        policy = _policy(args)
    except UsageError as exc:
        return _usage("sidecar", exc)
    return run(args.url, interval, policy, count=args.count)


def cmd_status(args: argparse.Namespace) -> int:
    from hb.client import UsageError
    from hb.status import run

    if not args.api_key:
        return _usage("status", "no API key: give --api-key or set HB_API_KEY")
    try:
        policy = _policy(args)
    except UsageError as exc:
        return _usage("status", exc)
    return run(args.api, args.api_key, policy, tags=args.tag or (), as_json=args.json)


def cmd_silence(args: argparse.Namespace) -> int:
    from hb import silence
    from hb.client import UsageError, parse_duration

    prog = f"silence {args.silence_command}"
    if not args.api_key:
        return _usage(prog, "no API key: give --api-key or set HB_API_KEY")
    try:
        policy = _policy(args)
        if args.silence_command == "list":
            return silence.list_(args.api, args.api_key, policy, state=args.state,
                                 quiet=args.quiet, as_json=args.json)
        if args.silence_command == "expire":
            return silence.expire(args.api, args.api_key, policy, args.ids)
        duration = round(parse_duration(args.duration)) if args.duration else None
    except UsageError as exc:
        return _usage(prog, exc)
    body = silence.add_body(args.matchers, comment=args.comment, author=args.author,
                            duration=duration, start=args.start, end=args.end,
                            schedule=args.schedule, tz=args.tz)
    return silence.add(args.api, args.api_key, policy, body)


def cmd_operator(args: argparse.Namespace) -> int:
    from hb.operatorcmd import run

    extra = args.kopf_args[1:] if args.kopf_args[:1] == ["--"] else args.kopf_args
    return run(extra, standalone=args.standalone)


def _client_options(p: argparse.ArgumentParser, max_time: str = "30s") -> None:
    g = p.add_argument_group("time limits (a job is never held long by an unreachable server)")
    g.add_argument("--timeout", default="10s", help="per attempt (default: %(default)s)")
    g.add_argument("--retries", type=int, default=2,
                   help="attempts after the first, with exponential backoff (default: "
                        "%(default)s)")
    g.add_argument("--max-time", default=max_time,
                   help="for the whole exchange, retries included (default: %(default)s)")


def _api_options(p: argparse.ArgumentParser, key_note: str) -> None:
    p.add_argument("--api", default=os.environ.get("HB_API_URL", "http://127.0.0.1:8000"),
                   help="ping server base URL (default: $HB_API_URL or %(default)s)")
    p.add_argument("--api-key", default=os.environ.get("HB_API_KEY", ""),
                   help=f"API key, {key_note} (default: $HB_API_KEY)")


SILENCE_HELP = """\
Silence checks for planned work (Alertmanager's model): the silenced checks still record
every ping and state; only their notifications wait, and a check still down when the
silence ends alerts then, once. See docs/oncall.md.

  ID=$(hb silence add tag=db --duration 2h --comment "pg upgrade")
  hb silence add 'name=~"nightly-.*"' label:app=web --end 2026-12-24T08:00:00+01:00
  hb silence add tag=backup --schedule "0 2 * * 0" --duration 2h --tz Europe/Berlin
  hb silence list --state active
  hb silence expire "$ID"
"""


def _add_silence_commands(sub: Any) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    silence = sub.add_parser("silence", help="add, list and expire silences",
                             description=SILENCE_HELP, formatter_class=formatter)
    commands = silence.add_subparsers(dest="silence_command", required=True)

    p = commands.add_parser(
        "add", help="silence the checks the matchers select; prints the new id",
        description="Create a silence (or, with --schedule, a recurring maintenance window) "
                    "and print its id alone. All matchers must match a check. Without "
                    "--start it starts now; give --duration or --end.")
    p.add_argument("matchers", nargs="+", metavar="MATCHER",
                   help="amtool syntax: NAME=VALUE, NAME!=VALUE, NAME=~REGEX, NAME!~REGEX; "
                        "names: uuid, name, slug, tag, project, namespace, label:<key> "
                        "(quote values with spaces: 'name=\"nightly backup\"')")
    p.add_argument("--duration", help="how long: 2h, 30m, 1d, 1h30m; with --schedule, the "
                                      "length of each window")
    p.add_argument("--comment", default="", help="why (shown with the silence and its alerts)")
    p.add_argument("--author", default=os.environ.get("USER", ""),
                   help="who (default: $USER)")
    p.add_argument("--start", help="ISO 8601 with a UTC offset (default: now)")
    p.add_argument("--end", help="ISO 8601 with a UTC offset (instead of --duration)")
    p.add_argument("--schedule", metavar="CRON",
                   help="a maintenance window opens at every tick (5 fields or @daily...)")
    p.add_argument("--tz", metavar="ZONE", help="IANA time zone of --schedule (default: UTC)")
    p.set_defaults(func=cmd_silence)

    p = commands.add_parser("list", help="print the project's silences as a table",
                            description="Active, pending and expired silences, oldest first.")
    p.add_argument("--state", choices=("active", "pending", "expired"),
                   help="only silences in this state")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the ids")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead")
    p.set_defaults(func=cmd_silence)

    p = commands.add_parser("expire", help="end silences now",
                            description="Expire silences now (they stay listable for "
                                        "HB_SILENCE_RETENTION on the server).")
    p.add_argument("ids", nargs="+", metavar="ID", help="silence id (from add or list -q)")
    p.set_defaults(func=cmd_silence)

    for name, p in commands.choices.items():
        _api_options(p, "read-only is enough" if name == "list" else "read-write")
        _client_options(p)


def _add_client_commands(sub: Any) -> None:
    url = os.environ.get("HB_PING_URL", "")
    p = sub.add_parser("ping", help="send one ping (success, start, fail, log, exit status)",
                       description="Send one ping. The URL can come from HB_PING_URL.")
    p.add_argument("url", nargs="?", default=url, help="ping URL (default: $HB_PING_URL)")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--start", dest="kind", action="store_const", const="start",
                      help="a run starts")
    kind.add_argument("--fail", dest="kind", action="store_const", const="fail",
                      help="a run failed")
    kind.add_argument("--log", dest="kind", action="store_const", const="log",
                      help="a log message only, no state change")
    kind.add_argument("--exit", type=int, metavar="N", help="exit status: 0 success, 1-255 fail")
    p.add_argument("--rid", default=os.environ.get("HB_RID") or None,
                   help="run id (a UUID) pairing start and end of one run (default: $HB_RID)")
    p.add_argument("--body-file", metavar="PATH",
                   help="send this file as the ping body ('-': standard input)")
    p.add_argument("--body-limit", type=int, default=100_000,
                   help="bytes of the body sent: its end is kept (default: %(default)s)")
    _client_options(p)
    p.set_defaults(func=cmd_ping, kind=None)

    p = sub.add_parser("run", help="run a command between a start ping and its exit status",
                       description="Send start, run the command, send its exit status with the "
                                   "tail of its output, exit with the command's code.")
    p.add_argument("--url", default=url, help="ping URL (default: $HB_PING_URL)")
    p.add_argument("--rid", default=os.environ.get("HB_RID") or None,
                   help="run id (default: $HB_RID, else a new UUID per run)")
    p.add_argument("--no-start", action="store_true", help="do not send the start ping")
    p.add_argument("--body-limit", type=int, default=None,
                   help="bytes of output sent (default: the server's Ping-Body-Limit)")
    _client_options(p)
    p.add_argument("command_argv", nargs=argparse.REMAINDER, metavar="-- command ...")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sidecar", help="ping every interval until SIGTERM (long-running pods)")
    p.add_argument("--url", default=url, help="ping URL (default: $HB_PING_URL)")
    p.add_argument("--interval", default="30s", help="time between pings (default: %(default)s)")
    p.add_argument("--count", type=int, default=0, help="stop after N pings (default: never)")
    _client_options(p)
    p.set_defaults(func=cmd_sidecar)

    p = sub.add_parser("status", help="print the project's checks as a table")
    _api_options(p, "read-only is enough")
    p.add_argument("--tag", action="append", help="only checks with this tag (repeatable)")
    p.add_argument("--json", action="store_true", help="print the API's JSON instead")
    _client_options(p)
    p.set_defaults(func=cmd_status)

    _add_silence_commands(sub)

    p = sub.add_parser("operator", help="run the Kubernetes operator (Kopf)")
    p.add_argument("--standalone", action="store_true",
                   help="no peering: only for a single replica")
    p.add_argument("kopf_args", nargs=argparse.REMAINDER, metavar="-- kopf-args ...")
    p.set_defaults(func=cmd_operator)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hb", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("server", help="run the ping server (API, pings, badges, metrics)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
    # The ASGI app factory to serve: the ping benchmark's ceiling app, under the same settings.
    p.add_argument("--app", default="pingserver.app:create_app", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_server)

    for name, text in (("sweeper", "move checks to late and down when deadlines pass"),
                       ("notifier", "deliver alerts for flips, with retries"),
                       ("worker", "sweeper and notifier in one process")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--metrics-port", type=int, default=0,
                       help="serve Prometheus metrics on this port (0: off)")
        p.set_defaults(func=cmd_engine)

    project = sub.add_parser("project", help="manage projects").add_subparsers(
        dest="project_command", required=True)
    p = project.add_parser("create", help="create a project and print its keys")
    p.add_argument("name")
    p.set_defaults(func=cmd_project_create)

    _add_client_commands(sub)

    dev = sub.add_parser("dev", help="local development helpers").add_subparsers(
        dest="dev_command", required=True)
    p = dev.add_parser("cluster", help="run a local Kubernetes control plane until Ctrl-C")
    p.add_argument("--no-controllers", action="store_true",
                   help="only etcd and kube-apiserver (no Jobs will run)")
    p.set_defaults(func=cmd_dev_cluster)
    p = dev.add_parser("stack", help="run Redis, ping server and worker with a sample check")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--dir", default="", help="state directory (default: a temporary one)")
    p.set_defaults(func=cmd_dev_stack)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Only `hb operator` passes options through (to `kopf run`), with or without `--`.
        if getattr(args, "func", None) is not cmd_operator:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        args.kopf_args = [*unknown, *args.kopf_args]
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
