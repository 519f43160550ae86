"""CSV input for hobby boards: one line of numbers per sample instant, at a fixed rate.

    dec = CsvDecoder(cfg.csv.channels, separator=cfg.csv.separator)   # objects with name, modality,
    for msg in dec.feed(chunk):                                       # sample_rate, scale, units
        ...                     # the same Hello and Data messages as codec.Decoder gives

Column i feeds ``channels[i]``; all columns share one line rate (``sample_rate``). The first feed yields a
HELLO built from the channel map, then each feed yields one DATA message with a float32 block per
column for every run of good lines. Each line takes one sample slot: a bad line (wrong column count,
not a number, over-long) is counted in ``stats.bad_lines`` and leaves a gap in the sample index, so
the daemon sees lost samples exactly as with the binary protocol. Never raises on wire data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import BridgeError
from .protocol import FMT_FLOAT32, ChannelDescriptor, Data, Hello, Message, SampleBlock

MAX_LINE = 1024        # bytes; a longer line is garbage (a missing newline), dropped up to the next one
_AUTO = re.compile(rb"[,;\t ]+")


@dataclass
class CsvStats:
    bytes_in: int = 0
    lines: int = 0           # complete lines seen, good or bad
    bad_lines: int = 0
    bytes_discarded: int = 0  # bytes of bad lines


class CsvDecoder:
    def __init__(self, channels: Sequence, separator: str = "auto", board_id: int = 0):
        if not channels:
            raise BridgeError("csv input: no channels configured; list the columns in [[csv.channels]]")
        rates = {float(c.sample_rate) for c in channels}
        if len(rates) != 1:
            raise BridgeError(f"csv input: columns have different sample rates {sorted(rates)}; one line holds one "
                              f"sample of every column, so give them all the board's line rate")
        if separator != "auto" and separator not in (",", ";", "\t", " "):
            raise BridgeError(f"csv input: separator {separator!r} is not supported; use auto, ',', ';', tab or space")
        self.rate = rates.pop()
        self.descriptors = [ChannelDescriptor(i, c.modality, self.rate, FMT_FLOAT32, float(c.scale), c.units,
                                              getattr(c, "name", "")) for i, c in enumerate(channels)]
        self.board_id = board_id
        self._split = (_AUTO if separator == "auto" else re.compile(rb"[ ]+") if separator == " "
                       else re.compile(re.escape(separator.encode())))
        self.stats = CsvStats()
        self._buf = bytearray()
        self._skipping = False
        self._index = 0          # sample index of the next line
        self._seq = 0

    def _values(self, line: bytes) -> list[float] | None:
        line = line.strip()
        if not line:
            return None
        parts = [p for p in self._split.split(line) if p]
        if len(parts) != len(self.descriptors):
            return None
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            return None
        return vals if all(np.isfinite(vals)) else None

    def feed(self, data: bytes) -> list[Message]:
        self.stats.bytes_in += len(data)
        out: list[Message] = []
        if self._seq == 0:
            out.append(Hello(board_id=self.board_id, seq=0, board_name="csv", firmware="csv",
                             channels=self.descriptors))
            self._seq = 1
        runs: list[tuple[int, list[list[float]]]] = []
        pos = 0
        while True:
            i = data.find(b"\n", pos)
            if i < 0:
                rest = data[pos:]
                if self._skipping:
                    self.stats.bytes_discarded += len(rest)
                elif len(self._buf) + len(rest) > MAX_LINE:
                    self.stats.bytes_discarded += len(self._buf) + len(rest)
                    self._buf.clear()
                    self._skipping = True
                else:
                    self._buf += rest
                break
            chunk = data[pos:i]
            pos = i + 1
            if self._skipping:           # the tail of an over-long line: one bad sample slot
                self._skipping = False
                self.stats.lines += 1
                self.stats.bytes_discarded += len(chunk)
                self._bad()
                continue
            line = bytes(self._buf) + chunk
            self._buf.clear()
            if not line.strip():
                continue                 # blank lines (e.g. the \n of \r\n pairs) are not samples
            self.stats.lines += 1
            vals = self._values(line) if len(line) <= MAX_LINE else None
            if vals is None:
                self.stats.bytes_discarded += len(line)
                self._bad()
                continue
            if not runs or runs[-1][0] + len(runs[-1][1]) != self._index:
                runs.append((self._index, []))
            runs[-1][1].append(vals)
            self._index += 1
        if runs:
            blocks = []
            for first, rows in runs:
                arr = np.asarray(rows, dtype=np.float32)
                blocks += [SampleBlock(c.channel_id, first, FMT_FLOAT32, arr[:, c.channel_id].copy())
                           for c in self.descriptors]
            end = runs[-1][0] + len(runs[-1][1])
            out.append(Data(board_id=self.board_id, seq=self._seq, timestamp_us=int(round(end / self.rate * 1e6)),
                            blocks=blocks))
            self._seq = (self._seq + 1) & 0xFFFFFFFF
        return out

    def decode(self, data: bytes) -> list[Message]:
        """As ``feed``: a CSV link has no frames, so no link events (a bad line is a one-sample gap)."""
        return self.feed(data)

    def _bad(self) -> None:
        self.stats.bad_lines += 1
        self._index += 1
