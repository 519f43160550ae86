"""The daemon's main loop: bytes from a source -> assembler -> classifier -> outputs.

One loop serves ``edge-rep stream`` (a serial port read by its own thread) and log playback
(``edge-rep replay``: a sensor log): only the source differs. In live mode a window whose bytes arrived
more than ``max_lag_s`` ago when its turn comes (the model, or the loop, fell behind real time) is skipped,
counted, and reported by a ``window_skipped`` notice; how many windows one batch of bytes completes never
matters (a stall's end completes several at once). A playback never skips, so it is exact. Memory stays
bounded: rings are fixed and the source queue is bounded.

No output stops the loop: a sink that raises is counted and logged (rate-limited), and the notices the
sinks raise about themselves (``output_down``, ``output_up``) are written to every sink.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..levels import LevelMonitor, window_levels
from .assembler import WindowAssembler
from .classifier import BufferReplayClassifier
from .detections import DetectionTracker
from .health import HealthEvent
from .notices import SHOWN, LinkChange, Notice
from .outputs import OutputState
from .schema import health_record, notice_record, window_record
from .sdnotify import Notifier
from .windows import WindowJob

log = logging.getLogger("edge_rep.stream")


# A window whose bytes arrived this many hops ago when its turn comes is skipped (live only).
MAX_LAG_HOPS = 2.0


@dataclass
class Chunk:
    """Bytes as they arrived: ``host_time`` is when (host clock, UNIX seconds; a sensor log keeps it), ``data``
    what."""

    host_time: float
    data: bytes


@dataclass
class RunStats:
    windows: int = 0
    classified: int = 0
    skipped: int = 0                  # windows skipped because the model fell behind (live only)
    events: int = 0
    labels: Counter = field(default_factory=Counter)
    scenarios: Counter = field(default_factory=Counter)
    replayed: int = 0
    detections: int = 0
    latency_ms: list = field(default_factory=list)   # last few hundred, for the summary
    backend_ms: list = field(default_factory=list)
    first_window_host: float | None = None


class StreamRunner:
    def __init__(self, assembler: WindowAssembler, classifier: BufferReplayClassifier, sinks: list, node: str,
                 status=None, notifier: Notifier | None = None, live: bool = True, max_lag_s: float | None = None,
                 detector: DetectionTracker | None = None, truth=None):
        """``max_lag_s``: live, skip a window whose bytes arrived longer ago than this when its turn comes
        (None: ``MAX_LAG_HOPS`` hops of the model's profile). ``detector``: turns the window lines into
        detection lines (None: none). ``truth``: a ``truth.LogTruth`` that adds ``truth`` to window and
        detection lines and scores them (log playback with labels; None: none)."""
        self.asm, self.clf, self.sinks, self.node = assembler, classifier, sinks, node
        self.status, self.notifier = status, notifier or Notifier({})
        self.meta = classifier.meta
        self.live = live
        self.max_lag_s = MAX_LAG_HOPS * self.meta.profile.hop_s if max_lag_s is None else float(max_lag_s)
        self.stats = RunStats()
        self.stop_requested = threading.Event()
        self._last = None          # last window record, for the status line
        self._sink_errors: dict[int, OutputState] = {}    # sinks that raised, by id
        # windows outside the level range the model was trained on (a wrong scale): flags and episodes
        self.levels = LevelMonitor(self.meta.extra.get("level_range") or {})
        self.detector, self.truth = detector, truth

    # -- signals --------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM ask the loop to stop; it then flushes outputs and recordings."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda s, f: self.stop_requested.set())

    # -- the loop -------------------------------------------------------------------------------
    def run(self, source) -> None:
        """Consume ``source`` (an iterable of lists of ``Chunk``s and ``LinkChange``s, an empty list meaning
        "nothing arrived yet") until it ends or a stop is requested; then cut what the data completes and flush."""
        self.notifier.ready(f"reading {getattr(source, 'name', 'input')}")
        try:
            for chunks in source:
                if self.stop_requested.is_set():
                    break
                items: list = []
                fed_at = time.time()
                for ch in chunks:
                    if isinstance(ch, LinkChange):    # from the serial source's reader thread (live only)
                        items.append(Notice(ch.event, self.asm.boot, None, ch.message))
                        if ch.event in ("link_up", "link_down", "link_wait"):
                            self.notifier.status(("reading " if ch.event == "link_up" else "") + ch.message)
                    else:
                        items += self.asm.feed(ch.data, ch.host_time)
                if self.live:                          # the link's silence, between reads
                    items += self.asm.tick(time.time())
                self.handle(items, fed_at)
                self.housekeeping()
        finally:
            self.handle(self.asm.finish(), time.time(), allow_skip=False)
            self._detections(self.detector.close("end") if self.detector is not None else [])
            self.notifier.stopping()

    def housekeeping(self) -> None:
        now = time.monotonic()
        self.notifier.watchdog(now)
        if self.status is not None and self._last is not None and self.status.due(now):
            self.status.update(self.status_text(), now)

    def handle(self, items: list, fed_at: float | None = None, allow_skip: bool | None = None) -> None:
        """Write events and classify windows, in order. Live, a window whose bytes arrived more than
        ``max_lag_s`` ago is skipped with a notice. ``fed_at``: when the items' bytes were fed (host clock),
        the start of a playback's latency (live, latency runs from the bytes' arrival)."""
        allow_skip = self.live if allow_skip is None else allow_skip
        for item in items:
            if isinstance(item, WindowJob):
                lag = time.time() - item.host_time_ready
                if allow_skip and item.host_time_ready and lag > self.max_lag_s:
                    self._skip(item, lag)
                    continue
                self._window(item, item.host_time_ready if self.live else fed_at)
            elif isinstance(item, HealthEvent):
                self._emit(health_record(item, self.node))
                log.info("%s: %s -> %s at board time %.3f s (%s)", item.channel, item.old.value, item.new.value,
                         item.board_time, item.reason, extra=SHOWN)
            elif isinstance(item, Notice):
                if item.event == "board_reset" and self.detector is not None:
                    self._detections(self.detector.close("reboot"))    # the old boot's clock ends here
                self._emit(notice_record(item, self.node))
        self._output_notices()

    def _output_notices(self) -> None:
        """Write the sinks' notices about themselves (an output failed, works again) to every sink."""
        for sink in self.sinks:
            take = getattr(sink, "take_notices", None)
            for event, message in (take() if take is not None else ()):
                announced = getattr(getattr(sink, "state", None), "announced", set())
                skip = sink if message in announced else None      # it wrote this one itself, in its place
                announced.discard(message)
                self._emit(notice_record(Notice(event, self.asm.boot, None, message), self.node), skip=skip)
        for state in self._sink_errors.values():
            for event, message in state.take_notices():
                self._emit(notice_record(Notice(event, self.asm.boot, None, message), self.node))

    def _skip(self, job: WindowJob, lag: float) -> None:
        """The model fell behind real time: this window is not classified; every skip is a notice line."""
        self.stats.skipped += 1
        msg = (f"window {job.index} ({job.t0:g}-{job.t1:g} s) skipped: its data arrived {lag:.1f} s ago, more than "
               f"{self.max_lag_s:g} s; the model fell behind ({self.stats.skipped} skipped in total)")
        log.warning(msg, extra=SHOWN)
        self._emit(notice_record(Notice("window_skipped", job.boot, job.t1, msg), self.node))

    def _window(self, job: WindowJob, since: float | None) -> None:
        levels = window_levels(job.data, job.present)          # once per window: level check and noise floor
        r = self.clf.classify(job, levels)
        latency = (time.time() - since) * 1e3 if since else None
        flags, episodes = self.levels.update(levels)
        rec = window_record(r, self.meta.classes, self.meta.model_id, self.node, latency, level_flags=flags)
        if self.truth is not None:
            self.truth.annotate(rec)
        self._emit(rec, samples=job.data)
        if self.detector is not None:
            self._detections(self.detector.window(rec))
        for ep in episodes:
            detail = {k: v for k, v in ep.items() if k not in ("event", "message")}
            self._emit(notice_record(Notice(ep["event"], job.boot, job.t1, ep["message"], detail), self.node))
        s = self.stats
        s.windows += 1
        if s.first_window_host is None:
            s.first_window_host = time.time()
        s.scenarios[job.scenario] += 1
        if r.probs is not None:
            s.classified += 1
            s.labels[rec["label"]] += 1
        s.replayed += bool(rec["replay"])
        if latency is not None:
            s.latency_ms = (s.latency_ms + [latency])[-500:]
        s.backend_ms = (s.backend_ms + [r.backend_ms])[-500:]
        self._last = rec

    def _detections(self, recs: list[dict]) -> None:
        for rec in recs:
            if self.truth is not None:
                self.truth.annotate(rec)
            self.stats.detections += rec["type"] == "detection"
            self._emit(rec)

    def _emit(self, rec: dict, skip=None, samples: dict | None = None) -> None:
        """Write ``rec`` to every sink (but ``skip``); a window's ``samples`` go to the sinks that show them
        (``write_window``: the web view's spectrogram)."""
        if rec.get("type") not in ("window", "detection", "detection_open"):
            self.stats.events += 1
        if self.status is not None:
            self.status.clear()                   # a record on the terminal never shares the status line's row
        for sink in self.sinks:
            if sink is skip:
                continue
            try:
                if samples is not None and hasattr(sink, "write_window"):
                    sink.write_window(rec, samples)
                else:
                    sink.write(rec)
            except BrokenPipeError:
                raise
            except Exception as e:  # noqa: BLE001 - no output stops classification (the others keep going)
                state = self._sink_errors.setdefault(id(sink), OutputState(type(sink).__name__))
                state.failed(f"{type(e).__name__}: {e}")
            else:
                if id(sink) in self._sink_errors:
                    self._sink_errors[id(sink)].ok()

    def close_sinks(self) -> None:
        """Write the last output notices, then close every sink; a sink that fails to close is logged."""
        try:
            self._output_notices()
        except BrokenPipeError:
            pass
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # noqa: BLE001 - the other sinks still get closed
                log.error("output %s: closing failed (%s: %s)", type(sink).__name__, type(e).__name__, e)

    def lost_records(self) -> dict[str, int]:
        """Records each output could not deliver (by sink name), where any."""
        out = {}
        for sink in self.sinks:
            n = getattr(sink, "lost", 0) + (self._sink_errors[id(sink)].lost if id(sink) in self._sink_errors else 0)
            if n:
                out[getattr(getattr(sink, "state", None), "name", type(sink).__name__)] = n
        return out

    # -- summaries ------------------------------------------------------------------------------
    def status_text(self) -> str:
        r = self._last
        if r is None:
            return f"{self.node}: waiting for data"
        lab = f"{r['label']} {r['confidence']:.2f}" if r["label"] else "no modality present"
        rep = f" replay {','.join(r['replay'])} ({max(r['buffer_age_s'].values()):.0f}s)" if r["replay"] else ""
        health = " ".join(f"{k}:{v}" for k, v in r["health"].items())
        c = self.asm.counters
        return (f"{self.node} boot {r['boot']} t={r['board_time']:.0f}s  {lab:<22} [{r['scenario']}{rep}]  {health}"
                f"  windows {self.stats.windows} skipped {self.stats.skipped} frame errors {c.frame_errors}")

    def summary(self) -> str:
        s, c = self.stats, self.asm.counters
        lat = sorted(s.latency_ms)
        med = f"{lat[len(lat) // 2]:.1f} ms" if lat else "n/a"
        scen = ", ".join(f"{k} {v}" for k, v in s.scenarios.most_common()) or "none"
        return (f"{s.windows} windows ({s.classified} classified, {s.replayed} with replay, {s.skipped} skipped, "
                f"{c.windows_lost} lost to reboots); scenarios: {scen}; "
                + (f"{s.detections} detections; " if self.detector is not None else "") + f"{s.events} events; "
                f"{c.frames} frames, {c.frame_errors} frame errors ({c.crc_errors} CRC), {c.frames_lost} frames lost, "
                f"{c.bytes_discarded} bytes discarded, {c.boots} reboots, {c.link_silences} link silences"
                + (f", {c.bad_frames} frames not handled" if c.bad_frames else "") + f"; median latency {med}"
                + "".join(f"; {name}: {n} records lost" for name, n in self.lost_records().items()))
