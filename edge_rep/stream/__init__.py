"""The streaming daemon (``edge-rep stream``; ``edge-rep replay`` plays a sensor log back through it):
bytes -> windows -> model -> outputs.

    ring.py        per-channel ring buffers indexed by the board's sample index
    health.py      per-channel health state machine (ok, degraded, dropped, recovering); inputs return events
    board.py       the board: channels from HELLO (changed in place), reboots, STATUS, samples into rings
    link.py        link accounting from the decoder's link events, and the host-clock silence time-out
    windows.py     windows on the board clock (``WindowJob``, ``Windower``)
    assembler.py   decoder -> board -> windows, with the link watched (``WindowAssembler``)
    classifier.py  the model, with REP buffer caching and replay (``BufferReplayClassifier``)
    notices.py     Notice (board and link events) and LinkChange (from the port's reader thread)
    schema.py      the JSON line schema (one dict per window, health event, notice)
    outputs.py     JSON lines, MQTT, readable lines, the stderr status line
    webview.py     the live web view (``--http``): a sink serving one page over HTTP, Server-Sent Events
    webstate.py    what the page shows: latest window, health, events, spectrogram columns (``page/``: the page)
    sources.py     serial port (reader thread, reconnect, recording; also edge-rep record) and sensor log
                   (playback) sources
    runner.py      the main loop (skip by time behind, silence ticks, signals, watchdog)
    daemon.py      wiring from edge-rep.toml: run_stream, run_playback, playback_records
    sdnotify.py    systemd notify protocol

Nothing here imports torch (tests check it). See docs/streaming.md.
"""
