"""Notices: what an operator should know that is not a channel's health (see docs/streaming.md).

    Notice("board_reset", boot=1, board_time=12.5, message="the board rebooted ...")   # from the assembler
    LinkChange("link_down", "disconnected: /dev/ttyUSB0 (...); reopening")             # from the port thread

The assembler's notices carry the boot and board time they happened at (the link's silence: the newest
board time before it). A ``LinkChange`` comes from the serial source's reader thread, which knows no
board clock; the main loop turns it into a ``Notice`` on the current boot with no board time.
``Notice.to_dict()`` is the notice's part of its JSON line (the output schema's ``notice_record`` adds
schema, node and host time).
"""

from __future__ import annotations

from dataclasses import dataclass

# ``extra=`` of a log line that repeats an output record (a health event, a port notice): when the records
# are shown as readable lines on the terminal, the log drops it, so each event is shown once.
SHOWN = {"shown": True}

# Events of notices, by who raises them.
BOARD_EVENTS = ("board_reset", "waiting_for_hello", "channel_rejected", "channel_ignored", "format_mismatch",
                "windows_lost")
SILENCE_EVENTS = ("link_silent", "link_resumed")       # from the bytes' receive times: a log replays them
LINK_EVENTS = ("link_up", "link_down", "link_wait")     # live only: a log replays no port changes
RUNNER_EVENTS = ("window_skipped",)                     # live only: the model fell behind real time
QUEUE_EVENTS = ("queue_overflow",)                      # live only: bytes dropped before the main loop took them
OUTPUT_EVENTS = ("output_down", "output_up")            # an output (JSON lines, MQTT, recording) failed / works again
LEVEL_EVENTS = ("level_out_of_range", "level_in_range")  # from the windows' samples (levels.py): a log replays them


@dataclass(frozen=True)
class Notice:
    event: str                        # one of BOARD_EVENTS, SILENCE_EVENTS, LINK_EVENTS, RUNNER_EVENTS,
                                      # QUEUE_EVENTS, OUTPUT_EVENTS or LEVEL_EVENTS
    boot: int                         # the board's boot it happened on
    board_time: float | None          # seconds on that boot's clock; None when unknown (link changes)
    message: str                      # one readable line
    detail: dict | None = None        # machine-readable fields of some events (level_*: modality, level_db...)

    def to_dict(self) -> dict:
        return {"type": "notice", "event": self.event, "boot": self.boot,
                "board_time": None if self.board_time is None else round(self.board_time, 6),
                "message": self.message, **(self.detail or {})}


@dataclass(frozen=True)
class LinkChange:
    """From the serial source's reader thread: the link came up, went down, or cannot be opened yet
    (LINK_EVENTS), bytes were dropped (QUEUE_EVENTS), the recording paused or resumed (OUTPUT_EVENTS)."""

    event: str
    message: str
