"""Durable small files: what makes a new file's name survive a crash (the journal, the audit
anchor, the audit key and witness). Standard library only: every layer may use it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a new or renamed entry in ``folder`` durable; a filesystem that cannot fsync a
    directory (some cannot) is harmless here, so that error is ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
