"""Wait for a condition instead of sleeping a fixed time: one helper for every test."""

from hb_controlplane.wait import WaitTimeout, wait_for

__all__ = ["WaitTimeout", "wait_for"]
