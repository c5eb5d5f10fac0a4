"""Helpers that make the operating system misbehave on purpose, for a child process."""

from __future__ import annotations

import resource
import signal
from collections.abc import Callable


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child's files cannot grow past ``limit_bytes`` (RLIMIT_FSIZE).

    A write past the limit then fails with EFBIG ("File too large"), as a full disk fails one with
    ENOSPC; SIGXFSZ, which would kill the child instead, is ignored.
    """

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return limit
