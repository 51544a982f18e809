"""`hb`: the Heartbeat Operator command (servers, operator, and the client for jobs)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("heartbeat-operator")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
