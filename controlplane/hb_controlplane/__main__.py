"""`python -m hb_controlplane [--no-controllers]`: same as `hb dev cluster`."""

from __future__ import annotations

import sys

from hb_controlplane.devcluster import run_dev_cluster


def main(argv: list[str]) -> int:
    return run_dev_cluster(with_controllers="--no-controllers" not in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
