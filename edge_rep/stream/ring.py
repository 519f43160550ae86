"""Per-channel ring buffer indexed by the board's absolute sample index.

Samples are written where the board says they belong (``first_index``), never appended: a lost packet
leaves NaN in its place, so time never shifts. Memory is fixed at ``capacity`` samples; anything older
than ``end - capacity`` is forgotten.
"""

from __future__ import annotations

import numpy as np


class SampleRing:
    """Fixed-capacity float32 ring keyed by absolute sample index (NaN where nothing arrived)."""

    def __init__(self, capacity: int):
        if capacity <= 0:
            raise ValueError("ring capacity must be positive")
        self.capacity = int(capacity)
        self._buf = np.full(self.capacity, np.nan, dtype=np.float32)
        self.end = 0          # one past the highest index ever written (0: empty)
        self.written = 0      # samples written in total (for statistics)

    @property
    def start(self) -> int:
        """Oldest index still held."""
        return max(self.end - self.capacity, 0)

    def reset(self) -> None:
        self._buf.fill(np.nan)
        self.end = 0

    def write(self, first_index: int, samples: np.ndarray) -> None:
        """Store ``samples`` at ``first_index``; indices older than the ring's reach are dropped."""
        x = np.asarray(samples, dtype=np.float32).ravel()
        n = x.size
        if n == 0:
            return
        first = int(first_index)
        last = first + n                               # exclusive
        if last > self.end:
            # Advancing: clear the slots between the old end and the new data (they are a gap).
            gap_lo = max(self.end, last - self.capacity)
            self._fill(gap_lo, first, np.nan)
            self.end = last
        lo = max(first, self.end - self.capacity)      # too old to keep
        if lo >= last:
            return
        x = x[lo - first:]
        self._put(lo, x)
        self.written += x.size

    def read(self, first_index: int, n: int) -> np.ndarray:
        """``n`` samples from ``first_index``; NaN where the ring holds nothing (gap, future or forgotten)."""
        out = np.full(n, np.nan, dtype=np.float32)
        lo = max(int(first_index), self.start)
        hi = min(int(first_index) + n, self.end)
        if hi > lo:
            out[lo - first_index:hi - first_index] = self._get(lo, hi - lo)
        return out

    # -- circular indexing -------------------------------------------------------------------
    def _fill(self, lo: int, hi: int, value: float) -> None:
        if hi <= lo:
            return
        if hi - lo >= self.capacity:
            self._buf.fill(value)
            return
        a, b = lo % self.capacity, hi % self.capacity
        if a < b:
            self._buf[a:b] = value
        else:
            self._buf[a:] = value
            self._buf[:b] = value

    def _put(self, lo: int, x: np.ndarray) -> None:
        a = lo % self.capacity
        k = min(x.size, self.capacity - a)
        self._buf[a:a + k] = x[:k]
        if k < x.size:
            self._buf[:x.size - k] = x[k:]

    def _get(self, lo: int, n: int) -> np.ndarray:
        a = lo % self.capacity
        k = min(n, self.capacity - a)
        if k == n:
            return self._buf[a:a + n].copy()
        return np.concatenate([self._buf[a:], self._buf[:n - k]])
