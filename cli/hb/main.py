"""`hb`: one entry point for every role (servers, engine, operator) and for people.

Imports are local to each command so that `hb ping` in a job container stays quick and does
not need the server-side libraries.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def cmd_server(args: argparse.Namespace) -> int:
    import uvicorn

    from pingserver.config import ConfigError, load

    try:
        load()  # fail fast, naming the variable, before workers start
    except ConfigError as exc:
        print(f"hb server: {exc}", file=sys.stderr)
        return 2
    uvicorn.run("pingserver.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False,
                proxy_headers=False)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("server", help="run the ping server (API, pings, badges, metrics)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
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
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
