"""Progress bars with an ETA for long fits and batch scoring (tqdm on stderr).

Shown only on a terminal by default, so tests, CI logs and piped runs stay silent; set
``MOVIE_RECOMMENDER_PROGRESS=1`` to force them on, ``=0`` to turn them off.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


def _enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    forced = os.environ.get("MOVIE_RECOMMENDER_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


class _Silent:
    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(total: int, description: str, unit: str, progress: bool | None = None):
    """A context giving ``update(n)``: a tqdm bar when enabled (see the module doc), else a no-op."""
    if not _enabled(progress) or total <= 0:
        yield _Silent()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit=f" {unit}", file=sys.stderr, mininterval=1.0) as bar:
        yield bar
