"""From wire bytes to classification windows: decoder -> board (rings, health) -> windows, with the link watched.

    asm = WindowAssembler(profile, cfg.health)
    items = asm.feed(chunk, host_time)   # HealthEvents, Notices and WindowJobs, in board-time order
    items = asm.tick(host_time)          # no bytes came (live): the link's silence time-out
    items = asm.finish()                 # end of input: the windows the data received completes

The assembler is the one place live streaming and log playback share. It hands the decoder's messages to
the board (``board.py``: HELLO, reboots, STATUS, samples into rings and health), its link events to the
link monitor (``link.py``: frame errors, lost frames, silence), and cuts windows (``windows.py``).
Everything but the silence is decided on the decoded frames and their board times, never on the host
clock, so the same bytes give the same windows, scenarios and events in any chunking. The silence time-out
is on the host clock, from each chunk's receive time, which sensor logs keep: a playback finds the silences
the live run found.

Board time: sample ``i`` of a channel was taken at ``i / sample_rate`` s after the board booted (see
firmware_bridge/PROTOCOL.md); frame headers carry the same clock in microseconds. A reboot (PROTOCOL.md
section 7, decided by the decoder) starts a new ``boot``: windows that the old boot's data could not
complete are counted as lost, the rings are cleared, and windowing restarts on the new clock.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from firmware_bridge.codec import BoardReboot, Decoder, FrameError, FramesLost
from firmware_bridge.protocol import Data, Hello, Message, Status

from ..config import HealthSection
from ..profiles import Profile
from .board import Board
from .health import State
from .link import LinkMonitor
from .notices import SHOWN, Notice
from .windows import Windower

log = logging.getLogger("edge_rep.stream")

# A tick (no bytes came) calls the silence this much after the time-out; bytes that arrive in between call it
# at their own receive time, as a playback of their log does, so both place it between the same chunks.
TICK_SLACK_S = 0.25


@dataclass
class Counters:
    """What the assembler has seen, for summaries and tests (a snapshot: ``WindowAssembler.counters``)."""

    frames: int = 0
    windows: int = 0
    windows_lost: int = 0             # windows whose data was lost (board reboot mid-window, clock leap)
    boots: int = 0
    hellos: int = 0
    unknown_channel_blocks: int = 0   # DATA for channels no HELLO described (e.g. before the first HELLO)
    rejected_channels: int = 0        # HELLO channels whose rate does not fit the model's profile
    format_mismatches: int = 0        # blocks whose sample format is not the HELLO's (dropped)
    frame_errors: int = 0             # runs between delimiters that were not valid frames (CRC, COBS, length)
    crc_errors: int = 0               # of which the CRC did not match
    frames_lost: int = 0
    bytes_discarded: int = 0
    link_silences: int = 0            # times no byte came for [health] link_timeout_s
    bad_frames: int = 0               # decoded frames the assembler could not handle (logged)


class WindowAssembler:
    """Bytes in; health events, notices and windows out (see the module docstring)."""

    def __init__(self, profile: Profile, health: HealthSection | None = None, decoder=None):
        """``health``: the channel health thresholds (``Config.health``; None: the ``[health]`` defaults).
        ``decoder``: the binary protocol's ``Decoder`` (default), or another with the same ``decode``
        (``firmware_bridge.csv_input.CsvDecoder`` for boards that print CSV lines)."""
        self.profile, self.th = profile, health or HealthSection()
        self.decoder = decoder or Decoder()
        self.board = Board(profile, self.th)
        self.link = LinkMonitor(self.th)
        self.windows = Windower(profile, self.board, self.link)
        self.bad_frames = 0

    @property
    def boot(self) -> int:
        return self.board.boot

    @property
    def counters(self) -> Counters:
        b, k, w = self.board, self.link, self.windows
        return Counters(frames=k.frames, windows=w.windows, windows_lost=w.windows_lost, boots=b.boots,
                        hellos=b.hellos, unknown_channel_blocks=b.unknown_channel_blocks,
                        rejected_channels=b.rejected_channels, format_mismatches=b.format_mismatches,
                        frame_errors=k.frame_errors, crc_errors=k.crc_errors, frames_lost=k.frames_lost,
                        bytes_discarded=self.decoder.stats.bytes_discarded, link_silences=k.silences,
                        bad_frames=self.bad_frames)

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes, host_time: float = 0.0) -> list:
        """Bytes received at ``host_time`` (host clock, UNIX seconds; a log's receive time in playback);
        returns ``HealthEvent``s, ``Notice``s and ``WindowJob``s in order."""
        out = self._silence(host_time, 0.0)
        gap = self.link.arrived(host_time)
        if gap is not None:
            out += self._link_notice("link_resumed", f"bytes again after {gap:.1f} s of silence", logging.INFO)
        for item in self.decoder.decode(data):
            if isinstance(item, Message):
                self.link.on_frame()
                out += self._safe_message(item, host_time)
            elif isinstance(item, BoardReboot):
                out += self.windows.flush(host_time, final=False)
                out += self.board.reboot(item.timestamp_us / 1e6)
            elif isinstance(item, (FrameError, FramesLost)):
                self.link.on_event(item)
        return out

    def tick(self, host_time: float) -> list:
        """No bytes came (live, between reads) and it is ``host_time``: call the link silent once no byte has
        come for ``[health] link_timeout_s``."""
        return self._silence(host_time, TICK_SLACK_S)

    def finish(self) -> list:
        """End of input (log over, or shutting down): cut the windows the data received completes."""
        return self.windows.flush(0.0, final=True)

    # -- messages -------------------------------------------------------------------------------
    def _safe_message(self, msg: Message, host_time: float) -> list:
        """The daemon never dies on wire data: a frame this code cannot handle is logged and skipped."""
        try:
            return self._message(msg, host_time)
        except Exception as e:
            self.bad_frames += 1
            log.error("skipped a %s frame that could not be handled (%s: %s)", type(msg).__name__,
                      type(e).__name__, e, exc_info=log.isEnabledFor(logging.DEBUG))
            return []

    def _message(self, msg: Message, host_time: float) -> list:
        if isinstance(msg, Hello):
            out = self.board.hello(msg)
        elif isinstance(msg, Data):
            out = self.board.data(msg)
        elif isinstance(msg, Status):
            out = self.board.status(msg)
        else:
            out = []
        out += self.board.advance(msg.timestamp_us / 1e6)     # every frame (HEARTBEATs too) carries the board clock
        return out + self.windows.advance(host_time)

    # -- the link's silence (host clock) --------------------------------------------------------
    def _silence(self, host_time: float, slack_s: float) -> list:
        if not self.link.silence_due(host_time, slack_s):
            return []
        t = self.th.link_timeout_s
        out = self._link_notice("link_silent", f"no byte from the board for {t:g} s (link_timeout_s): its channels "
                                "are dropped until data comes again", logging.WARNING)
        out += self.board.link_silent(f"link silent for {t:g} s")
        return out + self.windows.advance(host_time)           # dropped channels hold no window back

    def _link_notice(self, kind: str, message: str, level: int) -> list:
        log.log(level, message, extra=SHOWN)
        board_now = self.board.board_now
        return [Notice(kind, self.boot, board_now if board_now > -math.inf else None, message)]

    def channel_states(self) -> dict[str, State]:
        return {ch.name: ch.health.state for ch in self.board.channels.values()}

