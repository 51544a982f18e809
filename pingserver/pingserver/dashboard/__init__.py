"""The web dashboard: every check at a glance (server-rendered, no front-end build)."""

from pingserver.dashboard.router import router

__all__ = ["router"]
