"""Moved to ``online.state`` (the pure core below ``offline`` and ``stream_app``); this name
stays for the worker's imports."""
from online.state import MAX_EVENT_IDS, MAX_SWIPES, UserState

__all__ = ["MAX_EVENT_IDS", "MAX_SWIPES", "UserState"]
