"""Following a log file nginx appends to: complete new lines, across rotations.

The position (the file's inode and how far it was read) is kept in a small state file, so a
restarted follower goes on where it stopped: the `edge` program saves it before it acts on
the lines it read (at most once: a crash loses those lines rather than counting them twice,
as the API's own view counting loses an interval when Redis fails). A follower with no saved
position starts at the end (what was logged before it ever ran is not its business).
Rotation (`sichrplace stack rotate-logs` renames the file, nginx reopens on USR1): the old
file is read to its end first, then the new one from its start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

_READ_CHUNK = 1 << 20


class LogFollower:
    def __init__(self, path: Path, state_file: Path | None = None) -> None:
        self.path = path
        self.state_file = state_file
        self._fh: BinaryIO | None = None
        self._inode = 0
        self._offset = 0  # of the first byte not yet handed out as part of a line
        self._partial = b""
        self._started = False  # a first open happened (or found no file: then it is new)

    def _saved(self) -> tuple[int, int] | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        try:
            state = json.loads(self.state_file.read_text())
            return int(state["inode"]), int(state["offset"])
        except (ValueError, KeyError, TypeError, OSError):
            return None

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"inode": self._inode, "offset": self._offset}))
        tmp.replace(self.state_file)

    def _open(self) -> bool:
        first, self._started = not self._started, True
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return False
        inode, size = os.fstat(fh.fileno()).st_ino, os.fstat(fh.fileno()).st_size
        saved = self._saved() if first else None
        if saved is not None and saved[0] == inode and saved[1] <= size:
            offset = saved[1]
        elif first and saved is None:
            offset = size  # never ran: start at the end
        else:
            offset = 0  # a new file (rotated while we were away, or just now)
        fh.seek(offset)
        self._fh, self._inode, self._offset, self._partial = fh, inode, offset, b""
        return True

    def read_lines(self) -> list[bytes]:
        """The complete lines appended since the last call (a partial last line waits)."""
        if self._fh is None and not self._open():
            return []
        assert self._fh is not None
        lines = self._drain()
        if self._rotated():
            self._fh.close()
            self._fh = None
            if self._open():
                lines += self._drain()
        if lines:
            self._save()
        return lines

    def _drain(self) -> list[bytes]:
        assert self._fh is not None
        if os.fstat(self._fh.fileno()).st_size < self._fh.tell():  # truncated: from the start
            self._fh.seek(0)
            self._offset, self._partial = 0, b""
        data = self._partial
        while chunk := self._fh.read(_READ_CHUNK):
            data += chunk
        complete, _, self._partial = data.rpartition(b"\n")
        if not complete and not _:
            return []
        self._offset += len(complete) + 1
        return complete.split(b"\n")

    def _rotated(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            return False  # renamed, the new one not made yet: keep reading the old

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
