"""What the live web view shows (``edge-rep stream --http``), built from the daemon's records.

    state = PageState(meta, node="n1")
    msg = state.add(window_record, samples)     # -> {"seq": 1, "record": {...}, "columns": {...}}
    msg = state.add(health_record)              # any record type, "detection" or one not known yet included
    state.snapshot()                            # everything the page needs to draw itself from scratch

A window adds one column per modality to a scrolling spectrogram: the window's power spectral density
(Welch: Hann segments, half overlap) in log-spaced bands, dB re 1 unit^2/Hz, and its level (RMS about
the mean, dB re 1 unit, ``levels.window_level_db``, the level check's own measure). Computed with numpy
here, off the classifier's thread (``webview.WebView``): scipy.signal would cost the daemon about 10 MB
of memory for the same few lines. Not thread-safe: its owner serialises calls.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..levels import window_level_db
from ..modelspec import ModelMeta

HISTORY_WINDOWS = 300     # windows kept for the page (the spectrogram's width): 5 min at a 1 s hop
EVENTS_KEPT = 50          # health events, notices and any other record type, newest last
SPECTRUM_BANDS = 48       # log-spaced bands of a spectrogram column (fewer when the window is short)
MAX_SEGMENT = 256         # Welch segment length in samples (frequency resolution rate / 256)


class SpectrumBands:
    """Log-spaced band powers of windows of ``n`` samples at ``rate`` Hz: one spectrogram column each.

    ``edges_hz``: (B + 1,) band edges, from the first non-zero frequency bin to the Nyquist frequency."""

    def __init__(self, rate: float, n: int, bands: int = SPECTRUM_BANDS):
        self.rate, self.n = float(rate), int(n)
        seg = 2 ** int(math.floor(math.log2(max(n // 2, 8))))     # at least 3 half-overlapping segments
        self.seg = int(min(MAX_SEGMENT, seg))
        self.hop = self.seg // 2
        self.taper = np.hanning(self.seg).astype(np.float32)
        # one-sided PSD scale: unit^2/Hz from |rfft|^2 of the tapered segment
        self.scale = 2.0 / (self.rate * float(np.sum(self.taper.astype(np.float64) ** 2)))
        freqs = np.fft.rfftfreq(self.seg, 1.0 / self.rate)[1:]       # DC left out: the mean is not signal
        b = int(min(bands, len(freqs)))
        self.edges_hz = np.geomspace(freqs[0], self.rate / 2, b + 1)
        lo = np.searchsorted(freqs, self.edges_hz[:-1] - 1e-9)
        hi = np.searchsorted(freqs, self.edges_hz[1:] - 1e-9)
        hi[-1] = len(freqs)
        centre = np.sqrt(self.edges_hz[:-1] * self.edges_hz[1:])
        nearest = np.abs(freqs[None, :] - centre[:, None]).argmin(axis=1)
        empty = hi <= lo                  # a band narrower than one bin: its nearest bin
        lo[empty], hi[empty] = nearest[empty], nearest[empty] + 1
        self._lo, self._hi = lo + 1, hi + 1          # into the full rfft (with DC)

    def __call__(self, x: np.ndarray) -> list[float] | None:
        """Band powers of one window, dB re 1 unit^2/Hz rounded to 0.1 dB; None for a window with no signal
        (a missing modality is zero-filled). x: (C, S) or (S,), physical units; channels are averaged."""
        x = np.atleast_2d(np.asarray(x, np.float32))
        if x.shape[-1] < self.seg or not np.any(x):
            return None
        segs = np.lib.stride_tricks.sliding_window_view(x, self.seg, axis=-1)[:, ::self.hop]   # (C, K, seg)
        segs = segs - segs.mean(axis=-1, keepdims=True)
        power = np.abs(np.fft.rfft(segs * self.taper, axis=-1)) ** 2
        psd = power.mean(axis=(0, 1)) * self.scale
        cum = np.concatenate([[0.0], np.cumsum(psd)])
        band = (cum[self._hi] - cum[self._lo]) / (self._hi - self._lo)
        with np.errstate(divide="ignore"):
            db = 10.0 * np.log10(band)
        if not np.all(np.isfinite(db)):
            db = np.where(np.isfinite(db), db, -300.0)
        return [round(float(v), 1) for v in db]


def _finite(v: float) -> float | None:
    return round(float(v), 2) if math.isfinite(v) else None


class PageState:
    """The page's picture of the stream: the latest window, each channel's health, the last events, and
    per modality a bounded history of spectrogram columns. ``add`` returns the message that brings a page
    already showing the previous state up to date (the same facts ``snapshot`` holds)."""

    def __init__(self, meta: ModelMeta, node: str, history: int = HISTORY_WINDOWS, events: int = EVENTS_KEPT):
        self.meta, self.node = meta, node
        self.seq = 0                               # messages made so far (the last one's number)
        self.latest: dict | None = None            # the last window record
        self.health: dict[str, str] = {}           # channel -> state, from windows and health events
        self.events: deque = deque(maxlen=events)
        self.windows: deque = deque(maxlen=history)    # per window: what the label strip needs
        self.columns = {m.name: deque(maxlen=history) for m in meta.profile.modalities}
        self.bands = {m.name: SpectrumBands(m.sample_rate, meta.profile.window_samples(m.name))
                      for m in meta.profile.modalities}

    def add(self, rec: dict, samples: dict[str, np.ndarray] | None = None) -> dict:
        """Take one output record (``samples``: a window's, modality -> (C, S) in physical units)."""
        self.seq += 1
        msg = {"seq": self.seq, "record": rec}
        kind = rec.get("type")
        if kind == "window":
            self.latest = rec
            self.health.update(rec.get("health") or {})
            self.windows.append(_window_summary(rec))
            cols = {}
            for m, bands in self.bands.items():
                col = self._column(rec, m, bands, (samples or {}).get(m))
                self.columns[m].append(col)
                cols[m] = col
            msg["columns"] = cols
        else:
            if kind == "health" and rec.get("channel"):
                self.health[rec["channel"]] = rec.get("to", "")
            self.events.append(rec)
        return msg

    @staticmethod
    def _column(rec: dict, modality: str, bands: SpectrumBands, x) -> dict:
        present = modality in (rec.get("modalities") or [])
        db = level = None
        if x is not None and present:
            db = bands(x)
            level = _finite(window_level_db(np.atleast_2d(x)[None])[0])
        return {"boot": rec.get("boot"), "window": rec.get("window"), "t": rec.get("board_time"),
                "present": present, "replay": modality in (rec.get("replay") or []), "db": db, "level_db": level}

    def snapshot(self) -> dict:
        """Everything the page draws, as of message ``seq``."""
        p = self.meta.profile
        return {
            "seq": self.seq, "node": self.node, "model": self.meta.model_id, "classes": list(self.meta.classes),
            "profile": {"name": p.name, "window_s": p.window_s, "hop_s": p.hop_s},
            "modalities": {m.name: {"units": m.units, "sample_rate": m.sample_rate,
                                    "bands_hz": [round(float(f), 2) for f in self.bands[m.name].edges_hz]}
                           for m in p.modalities},
            "latest": self.latest, "health": dict(self.health), "events": list(self.events),
            "windows": list(self.windows), "columns": {m: list(c) for m, c in self.columns.items()},
        }


def _window_summary(rec: dict) -> dict:
    return {k: rec.get(k) for k in ("boot", "window", "board_time", "label", "confidence", "scenario", "replay")}
