"""Wire protocol v1.1 between a sensor board and the host: constants and message classes.

The normative description is ``firmware_bridge/PROTOCOL.md``; this module mirrors it. Messages are
plain dataclasses; ``firmware_bridge.codec`` turns them into frames and back.

    Hello(board_uid, board_name, firmware, channels=[ChannelDescriptor, ...])   sent first after boot
    Data(blocks=[SampleBlock(channel_id, first_index, fmt, samples), ...])      sample blocks
    Heartbeat(frames_dropped)                                                   about once a second
    Status(board_flags, channels={channel_id: flags}, state={channel_id: flags})  board-side faults (1.1: state)

Every message also carries the header fields ``board_id``, ``seq`` and ``timestamp_us`` (keywords).
``SampleBlock.samples`` holds raw counts (int16/int24/int32 as int32 arrays, float32 as float32);
multiply by the channel's ``scale`` from the HELLO to get physical units (``ChannelDescriptor.to_physical``).
Sample ``i`` of a channel was taken at board time ``i / sample_rate`` seconds (all channels start at 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VERSION_MAJOR = 1
VERSION_MINOR = 1          # 1.1 appends the current state to STATUS (PROTOCOL.md section 5)

# Message types (header byte 2). Receivers skip and count types they do not know.
MSG_HELLO = 0x01
MSG_DATA = 0x02
MSG_HEARTBEAT = 0x03
MSG_STATUS = 0x04

# Sample formats of a DATA block: code -> (name, bytes per sample).
FMT_INT16 = 1
FMT_INT24 = 2
FMT_INT32 = 3
FMT_FLOAT32 = 4
SAMPLE_FORMATS: dict[int, tuple[str, int]] = {
    FMT_INT16: ("int16", 2), FMT_INT24: ("int24", 3), FMT_INT32: ("int32", 4), FMT_FLOAT32: ("float32", 4),
}
# Largest magnitude a raw count of each integer format can hold (saturation level).
FULL_SCALE: dict[int, int] = {FMT_INT16: 2**15 - 1, FMT_INT24: 2**23 - 1, FMT_INT32: 2**31 - 1}

# Modality codes of a channel descriptor; unknown codes decode as "unknown".
MODALITY_CODES: dict[str, int] = {"acoustic": 1, "seismic": 2}
MODALITY_NAMES: dict[int, str] = {v: k for k, v in MODALITY_CODES.items()}

# STATUS flags. Board-wide:
BOARD_BUFFER_OVERFLOW = 1 << 0   # the board's transmit queue overflowed: frames were dropped
BOARD_CLOCK_FAULT = 1 << 1       # the sampling timer missed deadlines
# Per channel:
CH_ADC_OVERRUN = 1 << 0          # a conversion was not read before the next one (samples lost)
CH_SENSOR_DISCONNECTED = 1 << 1  # the sensor is not connected (no blocks are sent for it)
CH_BUFFER_OVERFLOW = 1 << 2      # the channel's sample buffer overflowed (samples lost)
CH_CLIPPING = 1 << 3             # samples reached full scale in the last second
# STATUS state (1.1): the CH_* bits that hold now; only SENSOR_DISCONNECTED is a state, the rest are events.
STATE_BITS = CH_SENSOR_DISCONNECTED

HEADER_SIZE = 18          # bytes: major, minor, type, flags, board_id u16, seq u32, timestamp_us u64
CRC_SIZE = 4
MAX_FRAME = 4096          # largest raw frame (header + payload + CRC) before COBS, bytes
MAX_ENCODED = MAX_FRAME + (MAX_FRAME + 253) // 254   # largest COBS-encoded frame, without its 0x00
MAX_PAYLOAD = MAX_FRAME - HEADER_SIZE - CRC_SIZE
BLOCK_HEADER_SIZE = 12    # channel_id u8, format u8, count u16, first_index u64

# Timing (PROTOCOL.md sections 5 and 7): what a board sends how often, and how a receiver reads time.
HEARTBEAT_PERIOD_S = 1.0  # a board sends a HEARTBEAT (and a STATUS) at least this often
HELLO_PERIOD_S = 1.0      # 1.1: and repeats its HELLO at least this often (1.0 boards: every 10 s)
LINK_TIMEOUT_S = 3.0      # the host calls the link silent after this long without a byte (3 heartbeats)
REORDER_WINDOW = 16       # a frame this many sequence numbers or fewer behind the newest is late, not lost
REBOOT_CLOCK_BACK_US = 1_000_000   # a timestamp this far behind the newest one means the board rebooted
BOOT_HELLO_US = 1_000_000          # a HELLO with seq 0 stamped earlier than this after boot starts a boot


@dataclass
class ChannelDescriptor:
    """One channel as the board describes it in its HELLO."""

    channel_id: int
    modality: str          # "acoustic", "seismic" or "unknown"
    sample_rate: float     # Hz; carried on the wire in millihertz (u32)
    fmt: int               # FMT_* the board sends this channel in
    scale: float           # physical units per raw count (float32 on the wire)
    units: str = ""        # "Pa", "m/s", ...
    sensor: str = ""       # sensor model or name, e.g. "SM-24"

    def to_physical(self, samples: np.ndarray) -> np.ndarray:
        """Raw counts -> physical units (float32)."""
        return samples.astype(np.float32) * np.float32(self.scale)


@dataclass
class SampleBlock:
    channel_id: int
    first_index: int       # index of samples[0] in the channel's sample count since boot (u64)
    fmt: int               # FMT_*
    samples: np.ndarray    # 1-D: int32 for integer formats, float32 for FMT_FLOAT32 (raw counts)

    def __eq__(self, other) -> bool:
        """Samples compared by value (the generated ``__eq__`` raises on arrays)."""
        if other.__class__ is not self.__class__:
            return NotImplemented
        return ((self.channel_id, self.first_index, self.fmt) == (other.channel_id, other.first_index, other.fmt)
                and self.samples.shape == other.samples.shape
                and bool(np.array_equal(self.samples, other.samples, equal_nan=self.samples.dtype.kind == "f")))


@dataclass(kw_only=True)
class Message:
    """Header fields shared by every message."""

    board_id: int = 0      # u16, chosen by the firmware (e.g. from a DIP switch or its flash)
    seq: int = 0           # u32, +1 per frame of any type, 0 at boot; gaps mean lost frames
    timestamp_us: int = 0  # u64, board time in microseconds since boot when the frame was built


@dataclass(kw_only=True)
class Hello(Message):
    board_uid: int = 0                 # u64 hardware-unique id (e.g. the MCU's flash unique id)
    board_name: str = ""
    firmware: str = ""                 # firmware version, e.g. "1.0.0"
    channels: list[ChannelDescriptor] = field(default_factory=list)
    TYPE = MSG_HELLO

    def channel(self, channel_id: int) -> ChannelDescriptor | None:
        return next((c for c in self.channels if c.channel_id == channel_id), None)


@dataclass(kw_only=True)
class Data(Message):
    blocks: list[SampleBlock] = field(default_factory=list)
    TYPE = MSG_DATA


@dataclass(kw_only=True)
class Heartbeat(Message):
    frames_dropped: int = 0            # u32, frames the board dropped since boot (transmit queue full)
    TYPE = MSG_HEARTBEAT


@dataclass(kw_only=True)
class Status(Message):
    board_flags: int = 0                                   # BOARD_* bits seen since the previous STATUS
    channels: dict[int, int] = field(default_factory=dict)  # channel_id -> CH_* bits seen since the previous STATUS
    # channel_id -> STATE_BITS that hold now (1.1; channels not listed: none). None: a 1.0 board sent it,
    # which says nothing about now (its flags are latched since the previous STATUS).
    state: dict[int, int] | None = field(default_factory=dict)
    TYPE = MSG_STATUS


def samples_for(fmt: int, values) -> np.ndarray:
    """Raw sample array in the in-memory dtype of ``fmt`` (int32 for integer formats, float32 for float32)."""
    return np.asarray(values, dtype=np.float32 if fmt == FMT_FLOAT32 else np.int32).ravel()
