"""The producer's results file: one JSON record per input position, and what it already has.

A run of millions of references must not hold a Python object per reference: the
positions with a record are kept as bits (``IndexSet``, 125 KB for 1,000,000), and the
file is read back a line at a time, each line bounded (``written_indexes``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, TextIO

from opay_async import CloseRecord

from .records import sent_again

__all__ = ["MAX_LINE", "IndexSet", "write_records", "written_indexes"]

#: The longest line read back from a results file: a record is well under 2 KB.
MAX_LINE: Final = 64 * 1024
#: Positions kept as bits up to this one (16 MiB of bits at most); a larger one, which
#: only a file that is not this producer's would hold, is kept in a set, so that one
#: line cannot make the producer allocate gigabytes.
_DENSE: Final = 2**27


class IndexSet:
    """Input positions (whole numbers from 0), one bit each: a set without an object each.

    Examples:
        >>> seen = IndexSet([3, 0])
        >>> seen.add(3)
        >>> 3 in seen, 1 in seen, len(seen), list(seen)
        (True, False, 2, [0, 3])
        >>> seen.discard(0)
        >>> list(seen), len(seen)
        ([3], 1)
    """

    def __init__(self, indexes: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._sparse: set[int] = set()
        self._count = 0
        self.update(indexes)

    def add(self, index: int) -> None:
        """Add ``index``.

        Raises:
            ValueError: ``index`` is negative.
        """
        if index < 0:
            raise ValueError(f"an index is at least 0, got {index}")
        if index >= _DENSE:
            if index not in self._sparse:
                self._sparse.add(index)
                self._count += 1
            return
        byte, mask = index >> 3, 1 << (index & 7)
        if byte >= len(self._bits):  # grow by doubling (amortised O(1)), no zeros copied
            grown = bytearray(max(byte + 1, 2 * len(self._bits)))
            grown[: len(self._bits)] = self._bits
            self._bits = grown
        if not self._bits[byte] & mask:
            self._bits[byte] |= mask
            self._count += 1

    def discard(self, index: int) -> None:
        """Remove ``index`` if present."""
        if index not in self:
            return
        self._count -= 1
        if index >= _DENSE:
            self._sparse.discard(index)
        else:
            self._bits[index >> 3] &= ~(1 << (index & 7)) & 0xFF

    def update(self, indexes: Iterable[int]) -> None:
        """Add each of ``indexes``."""
        for index in indexes:
            self.add(index)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or index < 0:
            return False
        if index >= _DENSE:
            return index in self._sparse
        byte = index >> 3
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << (index & 7)))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for byte, bits in enumerate(self._bits):
            if bits:
                yield from (byte * 8 + bit for bit in range(8) if bits >> bit & 1)
        yield from sorted(self._sparse)

    def copy(self) -> IndexSet:
        """A copy, changed independently."""
        copied = IndexSet()
        copied._bits = bytearray(self._bits)
        copied._sparse = set(self._sparse)
        copied._count = self._count
        return copied


def _read(line: bytes) -> tuple[int, bool]:
    """A record's index, and whether the record is final (see `written_indexes`)."""
    record = json.loads(line)
    index = int(record["index"])
    if index < 0:
        raise ValueError(f"an index is at least 0, got {index}")
    return index, not sent_again(record)


def written_indexes(path: Path) -> IndexSet:
    """The indexes a results file has a final record for; a torn last line is cut off the file.

    An index's last record is its current one. It is final unless its item was not sent
    because the run stopped, or was refused by a dead key (``records.sent_again``): a
    ``--resume`` sends those again, once the key is fixed.

    A line without its newline is what a producer killed mid-write leaves: it is not a
    record, and it is removed so that every line of the file stays JSON.

    Raises:
        ValueError: A complete line is not a record of this producer.
    """
    indexes = IndexSet()
    with path.open("rb+") as file:
        complete = 0  # where the last complete line ends
        # A line at a time, each bounded: the file may be large, or not ours at all.
        for number, line in enumerate(iter(lambda: file.readline(MAX_LINE + 1), b""), 1):
            if len(line) > MAX_LINE:
                raise ValueError(f"{path}: line {number} is not a record: over {MAX_LINE} bytes")
            if not line.endswith(b"\n"):
                file.truncate(complete)
                break
            complete += len(line)
            try:
                index, final = _read(line)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValueError(f"{path}: line {number} is not a record: {error}") from None
            if final:
                indexes.add(index)
            else:
                indexes.discard(index)
    return indexes


def _write(output: TextIO | None, records: list[CloseRecord]) -> None:
    if output is not None:
        output.write("".join(json.dumps(record) + "\n" for record in records))
        output.flush()  # on disk as each chunk finishes: a killed producer loses no chunk
        os.fsync(output.fileno())


# Lines short enough for docs/bulk.md, which shows them:
# fmt: off
# --8<-- [start:write]
def write_records(
    chunks: Iterable[list[CloseRecord]],  # from close_in_chunks()
    output: TextIO | None,
    written: IndexSet,  # indexes with a record (--resume: in the file)
    counts: dict[bool, int],  # closed (True) and not closed (False)
) -> None:
    """Write each chunk's records as it finishes, one per index."""
    for records in chunks:  # each chunk once, in the order they finish
        new = [r for r in records if r["index"] not in written]
        written.update(record["index"] for record in new)
        _write(output, new)  # flushed: a killed producer loses no chunk
        for record in new:
            counts[record["ok"]] += 1


# --8<-- [end:write]
# fmt: on
