"""Putting the daemon together from the config: model, assembler, classifier, outputs, source.

    run_stream(cfg)                  # live: cfg.serial.port until SIGINT/SIGTERM
    run_playback(cfg, "run.edgelog")        # log playback: the same path over a recorded sensor log
    playback_records(cfg, "run.edgelog")    # ... collected as a list of records

Both return a ``StreamRunner`` (its ``stats`` and ``summary()``) after flushing every output.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager

from firmware_bridge.sensorlog import LogHeader, csv_header, decoder_for

from ..backends import load_backend
from ..config import Config, check_detections
from .assembler import WindowAssembler
from .classifier import BufferReplayClassifier
from .detections import DetectionTracker
from .outputs import ListSink, MqttSink, ReadableSink, StatusLine, results_sink
from .recorder import LogRecorder
from .runner import StreamRunner
from .sdnotify import Notifier
from .sources import LogSource, SerialSource

log = logging.getLogger("edge_rep.stream")


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler on whatever ``sys.stderr`` is at each record, not the one at set-up (a caller that
    swaps stderr, such as an embedding program or a test, would otherwise leave it writing to a closed file).

    While a run shows a live status line, a log line clears it first (``status``); while its records are
    readable lines on the terminal, a log line that repeats one (``notices.SHOWN``) is dropped (``readable``)."""

    status: StatusLine | None = None
    readable = False

    def filter(self, record):
        if self.readable and getattr(record, "shown", False):
            return False
        return super().filter(record)

    def emit(self, record) -> None:
        if self.status is not None:
            self.status.clear()
        super().emit(record)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(level: str) -> None:
    """Levelled diagnostics on stderr (the journal under systemd); results never go there."""
    root = logging.getLogger("edge_rep")
    if not root.handlers:
        h = _StderrHandler()
        h.setFormatter(logging.Formatter("edge-rep %(levelname)s: %(message)s"))
        root.addHandler(h)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def open_backend(cfg: Config):
    """The configured model on the configured runtime ('' = the bundled default)."""
    t = time.perf_counter()
    backend = load_backend(cfg.model.path or None, cfg.model.backend)
    log.info("model: %s (loaded in %.2f s)", backend.describe(), time.perf_counter() - t)
    return backend


def model_meta(cfg: Config):
    """The configured model's ``ModelMeta`` (classes, profile) from its sidecar, without loading the model."""
    from ..backends import resolve
    from ..modelspec import ModelMeta, sidecar_path
    return ModelMeta.load(sidecar_path(resolve(cfg.model.path or None, cfg.model.backend)[1]))


def link_header(cfg: Config) -> LogHeader:
    """The serial link as the config describes it: port settings and wire format, with the ``[csv]``
    channel map for CSV boards. Live decoding (``decoder_for``) and ``--record`` logs both use it, so a
    recorded log plays back through the decoder the live run used."""
    extra = csv_header(cfg.csv.channels, cfg.csv.separator) if cfg.serial.format == "csv" else {}
    return LogHeader(port=cfg.serial.port, baudrate=cfg.serial.baud, input=cfg.serial.format, tool="edge-rep stream",
                     extra=extra)


def build_runner(cfg: Config, backend, live: bool, status: StatusLine | None = None,
                 notifier: Notifier | None = None, sinks: list | None = None, decoder=None,
                 json_lines: bool = False, truth=None) -> StreamRunner:
    """The loop with its outputs: the results sink (``results_sink``: readable lines on a terminal, else JSON
    lines; always JSON with ``json_lines``) unless ``sinks`` replaces it, MQTT when enabled, the live web
    view when ``[http] address`` is set; pass-by detections from ``[detections]``. ``decoder``: the link's
    (``decoder_for``; default: the one the config describes). ``truth``: a ``truth.LogTruth`` (log playback
    with labels)."""
    check_detections(cfg, backend.meta.classes)      # before any output is opened
    if sinks is None:
        sinks = [results_sink(cfg.output, json_lines)]
    if cfg.mqtt.enabled:
        sinks.append(MqttSink.from_config(cfg.mqtt, cfg.node.id,
                                          reconnect_s=(cfg.serial.reconnect_min_s, cfg.serial.reconnect_max_s)))
    if cfg.http.address:
        from .webview import WebView          # http.server: imported only when the page is served
        try:
            sinks.append(WebView.from_config(cfg.http, backend.meta, cfg.node.id))
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
    asm = WindowAssembler(backend.meta.profile, cfg.health, decoder or decoder_for(link_header(cfg)))
    clf = BufferReplayClassifier.from_config(backend, cfg.replay, cfg.detections.uncertain_threshold)
    detector = DetectionTracker.from_config(backend.meta, cfg.detections, cfg.node.id)
    return StreamRunner(asm, clf, sinks, cfg.node.id, status=status, notifier=notifier, live=live,
                        detector=detector, truth=truth)


@contextmanager
def _terminal(status: StatusLine, sinks: list):
    """The log handler's view of the run's terminal (see ``_StderrHandler``), for the run's length."""
    _StderrHandler.status = status if status.live else None
    _StderrHandler.readable = any(isinstance(s, ReadableSink) for s in sinks)
    try:
        yield
    finally:
        _StderrHandler.status, _StderrHandler.readable = None, False


def _finish(runner: StreamRunner, status: StatusLine | None) -> None:
    """Flush and close the outputs; the caller prints the summary (once)."""
    runner.close_sinks()
    if status is not None:
        status.close()


def run_stream(cfg: Config, backend=None, sinks: list | None = None, on_started=None,
               stop_after_s: float | None = None, json_lines: bool = False, truth=None) -> StreamRunner:
    """Classify the serial port's stream until SIGINT/SIGTERM (or ``stop_after_s`` seconds).
    ``on_started()`` is called once the port is open (the demo starts its simulated board then).
    ``json_lines``: JSON lines on stdout even when it is a terminal (``--json``). ``truth``: a
    ``truth.LogTruth`` when the signal's labels are known (the demo's simulator).

    Under systemd, READY=1 goes out once the model is loaded, with ``STATUS=waiting for <port>``, and the
    watchdog is pinged while the port is waited for (a board plugged in later is the normal case)."""
    backend = backend or open_backend(cfg)
    status = StatusLine(cfg.output.status_line)
    notifier = Notifier()
    header = link_header(cfg)
    runner = build_runner(cfg, backend, live=True, status=status, notifier=notifier, sinks=sinks,
                          decoder=decoder_for(header), json_lines=json_lines, truth=truth)
    try:
        writer = LogRecorder(cfg.record.dir, cfg.node.id, header, cfg.record) if cfg.record.dir else None
    except BaseException:
        runner.close_sinks()
        raise
    source = SerialSource.from_config(cfg.serial, writer)
    runner.install_signal_handlers()
    with _terminal(status, runner.sinks):
        _serve(cfg, runner, source, notifier, status, on_started, stop_after_s)
    return runner


def _serve(cfg: Config, runner: StreamRunner, source: SerialSource, notifier: Notifier, status: StatusLine,
           on_started, stop_after_s: float | None) -> None:
    timer = None
    try:
        notifier.ready(f"waiting for {cfg.serial.port}")
        source.start(runner.stop_requested, tick=lambda: notifier.watchdog(time.monotonic()))
        if not runner.stop_requested.is_set():      # not stopped while the port was waited for
            log.info("streaming from %s at %d baud", cfg.serial.port, cfg.serial.baud)
        if on_started is not None:
            on_started()
        if stop_after_s is not None:
            timer = threading.Timer(stop_after_s, runner.stop_requested.set)
            timer.daemon = True
            timer.start()
        runner.run(source)
    finally:
        if timer is not None:
            timer.cancel()
        source.close()                  # closes the recording; an empty log is removed
        notifier.close()
        _finish(runner, status)


def run_playback(cfg: Config, log_path: str, speed: str = "max", backend=None,
                 sinks: list | None = None, json_lines: bool = False, truth=None) -> StreamRunner:
    """Log playback: run a sensor log through the live path (decoder, health, windows, model, outputs).
    ``truth``: a ``truth.LogTruth`` for the log's labels (adds ``truth`` to window and detection lines)."""
    source = LogSource(log_path, speed)
    try:
        backend = backend or open_backend(cfg)
        status = StatusLine(cfg.output.status_line)
        runner = build_runner(cfg, backend, live=False, status=status, sinks=sinks,
                              decoder=decoder_for(source.header, f"log {log_path}"), json_lines=json_lines,
                              truth=truth)
    except BaseException:
        source.close()
        raise
    runner.install_signal_handlers()
    try:
        with _terminal(status, runner.sinks):
            runner.run(source)
    finally:
        source.close()
        _finish(runner, status)
    return runner


def playback_records(cfg: Config, log_path: str, backend=None, truth=None) -> list[dict]:
    """Every record (windows, detections, health events, notices) a playback of ``log_path`` gives, in order."""
    sink = ListSink()
    run_playback(cfg, log_path, "max", backend, sinks=[sink], truth=truth)
    return sink.records
