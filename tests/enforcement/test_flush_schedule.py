"""The flusher's schedule keeps the loss window within the flush interval: each usage flush
commits at most ``interval`` after the previous one took its batch, even when flushes are slow
(a kill -9 in embedded mode loses what was admitted since the last take that committed)."""

from __future__ import annotations

import time

from portal.enforcement.flusher import Flusher
from portal.enforcement.last_used import LastUsedTimes

INTERVAL = 0.5
#: What each flush takes, from its batch taken to its commit: a fifth of the interval.
FLUSH_SECONDS = 0.1


class SlowFlusher(Flusher):
    """Records when each flush took its batch and when it committed."""

    def __init__(self) -> None:
        super().__init__(None, (), INTERVAL, LastUsedTimes(3600))  # type: ignore[arg-type]
        self.takes: list[float] = []
        self.commits: list[float] = []

    def flush(self) -> int:
        self.takes.append(time.monotonic())
        time.sleep(FLUSH_SECONDS)
        self.commits.append(time.monotonic())
        return 0

    def flush_last_used(self) -> int:
        return 0


def test_each_flush_commits_within_the_interval_of_the_previous_take() -> None:
    flusher = SlowFlusher()
    started = time.monotonic()
    flusher.start()
    deadline = time.monotonic() + 10
    while len(flusher.commits) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    flusher._stop.set()
    takes, commits = list(flusher.takes), list(flusher.commits)
    assert len(commits) >= 7
    windows = [commits[0] - started] + [
        commit - take for take, commit in zip(takes, commits[1:], strict=False)
    ]
    # Flushing every interval, each window would be the interval plus the flush: 0.6 s.
    assert max(windows) <= INTERVAL, [round(window, 3) for window in windows]
