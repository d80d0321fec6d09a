"""One run per database (SPEC section 8): an advisory lock that dies with its process.

``flock`` on ``<database>.lock`` is released by the kernel when the holder exits for any
reason, ``kill -9`` included, so a crashed run never blocks the next one. The file
holds the holder's pid so a refused run can say who has it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class LockHeld(RuntimeError):
    """Another live process holds the database's run lock."""

    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"another pingcrawl run (pid {pid or 'unknown'}) holds {path}")
        self.path = path
        self.pid = pid


class RunLock:
    def __init__(self, database: str | os.PathLike[str]) -> None:
        self.path = Path(f"{os.fspath(database)}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockHeld(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
