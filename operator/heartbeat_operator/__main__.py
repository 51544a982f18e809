"""`python -m heartbeat_operator [kopf run options]`: the operator, configured from HB_ env."""

import sys

from heartbeat_operator.main import run

sys.exit(run(sys.argv[1:]))
