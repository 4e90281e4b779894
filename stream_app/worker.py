"""The worker process class: faust's ``Worker`` with a bounded shutdown.

faust stops its services one by one, each with its own timeout; with the broker gone the
consumer's final commit and the producer's flush each wait out theirs, and SIGTERM took
about 60 s (orchestrators SIGKILL after 30 s). Stopping early is safe here: a batch is
acknowledged only once its output is on the broker (``stream_app/delivery.py``), so
whatever a cut-short shutdown leaves uncommitted is processed again after a restart, and
duplicates are dropped by event id.
"""
from __future__ import annotations

import logging
import os
import threading

import faust

log = logging.getLogger(__name__)

EXIT_SHUTDOWN_CUT_SHORT = 0
"""Exit status when the graceful stop outlived its deadline (a stop asked for, not a crash)."""


class Worker(faust.Worker):
    """``faust.Worker`` that exits at most ``shutdown_timeout`` seconds after SIGTERM/SIGINT.

    Set ``shutdown_timeout`` (seconds) on the class or instance before the signal arrives.
    """

    shutdown_timeout: float = 8.0
    _deadline: threading.Timer | None = None

    def _on_sigterm(self) -> None:
        self._arm_deadline("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._arm_deadline("SIGINT")
        super()._on_sigint()

    def _arm_deadline(self, why: str) -> None:
        """Start a watchdog thread: the event loop may be stuck in a stop that never ends."""
        if self._deadline is not None:
            return
        self._deadline = threading.Timer(self.shutdown_timeout, _exit_now, args=(why, self.shutdown_timeout))
        self._deadline.daemon = True
        self._deadline.start()


def _exit_now(why: str, after: float) -> None:
    log.warning("%s: graceful stop still running after %.0f s; exiting now (batches not yet "
                "committed are processed again after a restart)", why, after)
    logging.shutdown()
    os._exit(EXIT_SHUTDOWN_CUT_SHORT)
