"""What a collect shows while it runs (a terminal only) and the summary it prints at the end."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING

from fleet.ssh.outcomes import OK
from fleet.text import visible

if TYPE_CHECKING:  # the SSH side (asyncssh) is imported only by the commands that connect
    from fleet.collect.sampler import DeviceOutcome


class TerminalProgress:
    """One status line on stderr, only when stderr is a terminal (never in cron mail or journald)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.seen: set[str] = set()
        self.enabled = sys.stderr.isatty()

    def __call__(self, outcome: DeviceOutcome) -> None:
        if not self.enabled:
            return
        if outcome.name not in self.seen:
            self.seen.add(outcome.name)
            self.done += 1
        if outcome.status != OK:
            self.failed += 1
        sys.stderr.write(f"\r{self.done}/{self.total} devices sampled, {self.failed} failures ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")


# Failed (or partial) devices named per status in the summary; a site down must not bury the one
# wrong key under 300 "unreachable" lines, and `fleet rank` lists every device with its error.
SHOWN_PER_STATUS = 10


def summarize(outcomes: list[DeviceOutcome], seconds: float) -> str:
    """The end-of-run summary: counts by status, then a line per failed or partial device, at most
    SHOWN_PER_STATUS of each status, and how many more."""
    from fleet.collect.sampler import status_counts

    by_status = status_counts(outcomes)
    samples = sum(o.samples for o in outcomes)
    ok = by_status.get(OK, 0)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(by_status.items()) if s != OK)
    lines = [
        f"collected {ok}/{len(outcomes)} devices, {samples} samples in {seconds:.1f} s"
        + (f" ({counts})" if counts else "")
    ]
    seen: Counter[str] = Counter()
    for o in outcomes:
        if o.status != OK:
            kind, line = o.status, f"  {o.name}: {o.status}: {o.error}"
        elif o.problems:
            kind, line = "partial sample", f"  {o.name}: partial sample: {'; '.join(o.problems[:3])}"
        else:
            continue
        seen[kind] += 1
        if seen[kind] <= SHOWN_PER_STATUS:
            lines.append(line)
    for kind, n in sorted(seen.items()):
        if n > SHOWN_PER_STATUS:
            lines.append(f"  ... and {n - SHOWN_PER_STATUS} more {kind} (fleet rank lists every device)")
    return "\n".join(visible(line) for line in lines)  # device text cannot drive the terminal
