"""Progress shown while a sync works: tqdm bars on a terminal (stderr), never in ``--json``
output (the command line passes ``progress=False`` there).

``enabled`` is the user's ``progress=`` option: ``True`` always, ``False`` never, ``None``
(the default) for long work when stderr is a terminal.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


def bar(enabled: bool | None, *, long: bool, **kwargs: Any) -> Any:
    """A tqdm bar: shown if asked (``enabled``), or by default for long work on a terminal."""
    from tqdm.auto import tqdm

    show = enabled if enabled is not None else (long and sys.stderr.isatty())
    return tqdm(disable=not show, leave=False, dynamic_ncols=True, **kwargs)


def byte_bar(enabled: bool | None, *, total: int | None, desc: str, long: bool) -> Any:
    """A bar counting bytes towards ``total`` (if known)."""
    return bar(
        enabled,
        long=long,
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
    )


class Elapsed:
    """A progress line showing the time elapsed while the server works (no total to show),
    refreshed twice a second by a daemon thread until :meth:`stop`."""

    def __init__(self, enabled: bool | None, *, long: bool, desc: str) -> None:
        self.bar = bar(enabled, long=long, desc=desc, bar_format="{desc} {elapsed}")
        self._done = threading.Event()
        if not self.bar.disable:
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self._done.wait(0.5):
            self.bar.refresh()

    def stop(self) -> None:
        self._done.set()
        self.bar.close()
