"""Frames <-> messages: ``encode(msg) -> bytes`` and the incremental ``Decoder``.

    frame = 0x00, COBS(header | payload | CRC-32C LE), 0x00        (see PROTOCOL.md)

    dec = Decoder()
    for msg in dec.feed(chunk):      # any chunking; garbage, cuts and bit flips are skipped and counted
        ...
    for item in dec.decode(chunk):   # the same messages, with the link events between them, in order:
        ...                          # FrameError, FramesLost, BoardReboot
    dec.stats                        # DecoderStats: link totals and per-board BoardStats

The decoder never raises on wire data and never holds more than ``MAX_ENCODED`` bytes of a partial
frame: a run of bytes longer than the largest legal frame is dropped up to the next delimiter. It
applies the receiver rules of PROTOCOL.md section 7 itself (sequence numbers, late frames, boots), so
every reader of a link (the daemon, log conversion, ``edge-rep record``) counts alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs
from crc32c import crc32c

from .errors import BridgeError
from .protocol import (
    BLOCK_HEADER_SIZE,
    CRC_SIZE,
    FMT_FLOAT32,
    FMT_INT16,
    FMT_INT24,
    FMT_INT32,
    FULL_SCALE,
    HEADER_SIZE,
    MAX_ENCODED,
    BOOT_HELLO_US,
    MAX_FRAME,
    MODALITY_CODES,
    MODALITY_NAMES,
    MSG_DATA,
    MSG_HEARTBEAT,
    MSG_HELLO,
    MSG_STATUS,
    REBOOT_CLOCK_BACK_US,
    REORDER_WINDOW,
    SAMPLE_FORMATS,
    VERSION_MAJOR,
    VERSION_MINOR,
    ChannelDescriptor,
    Data,
    Heartbeat,
    Hello,
    Message,
    SampleBlock,
    Status,
)

DELIMITER = b"\x00"
_HEADER = struct.Struct("<BBBBHIQ")
_CRC = struct.Struct("<I")
_BLOCK = struct.Struct("<BBHQ")
_CHANNEL = struct.Struct("<BBBBIf")
_STATUS_CH = struct.Struct("<BBH")
_U8, _U16, _U32, _U64 = struct.Struct("<B"), struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_WIRE_DTYPE = {FMT_INT16: np.dtype("<i2"), FMT_INT32: np.dtype("<i4"), FMT_FLOAT32: np.dtype("<f4")}


# ----------------------------------------------------------------------------------------------- encoding

def _str8(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 255:
        raise BridgeError(f"protocol string '{s[:20]}...' is {len(b)} bytes; the limit is 255")
    return bytes([len(b)]) + b


def _pack_samples(fmt: int, samples: np.ndarray) -> bytes:
    if fmt not in SAMPLE_FORMATS:
        raise BridgeError(f"sample format {fmt} is unknown; use one of {sorted(SAMPLE_FORMATS)}")
    if fmt == FMT_FLOAT32:
        return np.asarray(samples, dtype="<f4").tobytes()
    v = np.asarray(samples)
    if v.size and (v.min() < -FULL_SCALE[fmt] - 1 or v.max() > FULL_SCALE[fmt]):
        raise BridgeError(f"samples out of range for {SAMPLE_FORMATS[fmt][0]}; clip them to full scale first")
    if fmt == FMT_INT24:   # little-endian two's complement, 3 bytes: the low 3 bytes of an int32
        return v.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return v.astype(_WIRE_DTYPE[fmt]).tobytes()


def _payload(msg: Message, minor: int) -> bytes:
    if isinstance(msg, Data):
        if len(msg.blocks) > 255:
            raise BridgeError("a DATA frame holds at most 255 sample blocks")
        parts = [_U8.pack(len(msg.blocks))]
        for b in msg.blocks:
            n = int(np.asarray(b.samples).size)
            parts += [_BLOCK.pack(b.channel_id, b.fmt, n, b.first_index), _pack_samples(b.fmt, b.samples)]
        return b"".join(parts)
    if isinstance(msg, Hello):
        parts = [_U64.pack(msg.board_uid), _str8(msg.board_name), _str8(msg.firmware), _U8.pack(len(msg.channels))]
        for c in msg.channels:
            parts += [_CHANNEL.pack(c.channel_id, MODALITY_CODES.get(c.modality, 0), c.fmt, 0,
                                    int(round(c.sample_rate * 1000)), c.scale), _str8(c.units), _str8(c.sensor)]
        return b"".join(parts)
    if isinstance(msg, Heartbeat):
        return _U32.pack(msg.frames_dropped)
    if isinstance(msg, Status):
        chans = sorted(msg.channels.items())
        out = _U32.pack(msg.board_flags) + _U8.pack(len(chans)) + b"".join(
            _STATUS_CH.pack(ch, 0, flags) for ch, flags in chans)
        if minor >= 1:     # 1.1: the state that holds now, one u16 per channel in the same order
            state = msg.state or {}
            if not set(state) <= set(msg.channels):
                raise BridgeError(f"STATUS state names channels {sorted(set(state) - set(msg.channels))} that its "
                                  f"flags do not list; list every channel in both")
            out += b"".join(_U16.pack(state.get(ch, 0)) for ch, _ in chans)
        return out
    raise BridgeError(f"cannot encode {type(msg).__name__}; expected Hello, Data, Heartbeat or Status")


def encode(msg: Message, minor: int = VERSION_MINOR) -> bytes:
    """One complete frame on the wire: 0x00, COBS(header, payload, CRC-32C), 0x00. ``minor``: the protocol's
    minor version to write (0 writes a 1.0 frame, as a board that predates 1.1 would: STATUS without state)."""
    if not 0 <= minor <= VERSION_MINOR:
        raise BridgeError(f"protocol version 1.{minor}: this encoder writes 1.0 to 1.{VERSION_MINOR}")
    try:
        raw = _HEADER.pack(VERSION_MAJOR, minor, msg.TYPE, 0, msg.board_id, msg.seq, msg.timestamp_us)
        raw += _payload(msg, minor)
    except struct.error as e:
        raise BridgeError(f"{type(msg).__name__} frame: a field is out of range ({e}); check its values") from None
    if len(raw) + CRC_SIZE > MAX_FRAME:
        raise BridgeError(f"{type(msg).__name__} frame of {len(raw) + CRC_SIZE} bytes exceeds the {MAX_FRAME}-byte "
                          f"maximum; send fewer samples per frame")
    raw += _CRC.pack(crc32c(raw))
    return DELIMITER + cobs.encode(raw) + DELIMITER


# ----------------------------------------------------------------------------------------------- decoding

# Why a run of bytes between two delimiters was not a frame (FrameError.reason, DecoderStats counters).
FRAME_ERRORS = ("cobs", "too_short", "oversize", "crc", "version", "malformed")


@dataclass(frozen=True)
class FrameError:
    """A run of bytes between delimiters that is not a valid frame: line noise that breaks the COBS
    encoding, a cut or over-long frame, a CRC mismatch, another major version, a payload that does not
    parse. Each is one failed frame for the link's error rate; its bytes count as discarded."""

    reason: str            # one of FRAME_ERRORS


@dataclass(frozen=True)
class FramesLost:
    """Frames of a board that will not come: sequence numbers skipped and not filled by a late frame
    within ``REORDER_WINDOW`` (or still missing when the board rebooted)."""

    board_id: int
    count: int


@dataclass(frozen=True)
class BoardReboot:
    """The next message starts a new boot of the board (PROTOCOL.md section 7, Boots): its sample indices
    and clock restarted at 0."""

    board_id: int
    seq: int
    timestamp_us: int


LinkEvent = FrameError | FramesLost | BoardReboot


@dataclass
class BoardStats:
    """What one board's frames told us. Failed frames and discarded bytes cannot name their board, so they
    are charged to the board last heard on this link (one port is one board)."""

    frames: int = 0          # frames with a valid CRC and major version (messages, unknown types, malformed)
    seq_gaps: int = 0        # times the sequence number jumped forward
    frames_lost: int = 0     # frames that never came (FramesLost)
    frames_late: int = 0     # frames that came after newer ones, within REORDER_WINDOW (not lost)
    frames_stale: int = 0    # frames behind the newest that were not missing (repeated, or later than the window)
    resets: int = 0          # boots after the first one seen (BoardReboot)
    crc_errors: int = 0
    bytes_discarded: int = 0
    last_seq: int = -1       # the newest sequence number
    newest_us: int = -1      # the newest timestamp
    missing: set[int] = field(default_factory=set)   # skipped sequence numbers a late frame may still fill


@dataclass
class DecoderStats:
    bytes_in: int = 0
    bytes_discarded: int = 0     # bytes that were not part of a valid frame (delimiters excluded)
    frames: int = 0              # valid frames returned as messages
    crc_errors: int = 0
    cobs_errors: int = 0         # runs whose COBS encoding was broken (line noise, a cut frame)
    oversize: int = 0            # runs or raw frames longer than the largest legal frame
    too_short: int = 0
    unsupported_version: int = 0  # another major version
    unknown_type: int = 0        # valid frames of a message type this decoder does not know (skipped)
    malformed: int = 0           # valid CRC but a payload that does not parse
    boards: dict[int, BoardStats] = field(default_factory=dict)

    @property
    def frame_errors(self) -> int:
        """Runs between delimiters that were not valid frames, whatever the reason (FrameError)."""
        return (self.crc_errors + self.cobs_errors + self.oversize + self.too_short + self.unsupported_version
                + self.malformed)


def _read_str8(buf: bytes, off: int) -> tuple[str, int]:
    n = buf[off]
    end = off + 1 + n
    if end > len(buf):
        raise ValueError("string runs past the payload")
    return buf[off + 1:end].decode("utf-8"), end


def _unpack_samples(fmt: int, buf: bytes, off: int, n: int) -> tuple[np.ndarray, int]:
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"unknown sample format {fmt}")
    end = off + n * SAMPLE_FORMATS[fmt][1]
    if end > len(buf):
        raise ValueError("sample block runs past the payload")
    if fmt == FMT_INT24:   # into the top 3 bytes of little-endian int32s, then an arithmetic shift sign-extends
        w = bytearray(4 * n)
        w[1::4], w[2::4], w[3::4] = buf[off:end:3], buf[off + 1:end:3], buf[off + 2:end:3]
        return np.frombuffer(w, "<i4") >> 8, end
    v = np.frombuffer(buf, _WIRE_DTYPE[fmt], n, off)
    return v.astype(np.float32 if fmt == FMT_FLOAT32 else np.int32), end


def _parse(mtype: int, p: bytes, hdr: dict, minor: int) -> Message | None:
    """Payload -> message; None for an unknown type. Trailing bytes (newer minor versions) are ignored."""
    if mtype == MSG_DATA:
        blocks, off = [], 1
        for _ in range(p[0]):
            ch, fmt, n, first = _BLOCK.unpack_from(p, off)
            samples, off = _unpack_samples(fmt, p, off + BLOCK_HEADER_SIZE, n)
            blocks.append(SampleBlock(ch, first, fmt, samples))
        return Data(blocks=blocks, **hdr)
    if mtype == MSG_HELLO:
        (uid,) = _U64.unpack_from(p, 0)
        name, off = _read_str8(p, 8)
        fw, off = _read_str8(p, off)
        chans = []
        for _ in range(p[off]):
            ch, mod, fmt, _r, rate_mhz, scale = _CHANNEL.unpack_from(p, off + 1)
            units, off = _read_str8(p, off + 1 + _CHANNEL.size)
            sensor, off = _read_str8(p, off)
            off -= 1   # the loop reads the next record at off + 1
            chans.append(ChannelDescriptor(ch, MODALITY_NAMES.get(mod, "unknown"), rate_mhz / 1000.0, fmt,
                                           float(scale), units, sensor))
        return Hello(board_uid=uid, board_name=name, firmware=fw, channels=chans, **hdr)
    if mtype == MSG_HEARTBEAT:
        return Heartbeat(frames_dropped=_U32.unpack_from(p, 0)[0], **hdr)
    if mtype == MSG_STATUS:
        (flags,) = _U32.unpack_from(p, 0)
        ids, chans = [], {}
        for i in range(p[4]):
            ch, _r, f = _STATUS_CH.unpack_from(p, 5 + i * _STATUS_CH.size)
            ids.append(ch)
            chans[ch] = f
        state = None
        if minor >= 1:     # 1.1: a u16 state per channel follows the flags
            off = 5 + len(ids) * _STATUS_CH.size
            state = {ch: v for k, ch in enumerate(ids) if (v := _U16.unpack_from(p, off + 2 * k)[0])}
        return Status(board_flags=flags, channels=chans, state=state, **hdr)
    return None


class Decoder:
    """Incremental frame decoder for one link. ``decode(bytes) -> [Message | LinkEvent]`` (``feed``: the
    messages alone); never raises on wire data."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()      # partial frame (COBS-encoded), at most MAX_ENCODED bytes
        self._skipping = False       # dropping an over-long run up to the next delimiter
        self._last_board: int | None = None
        self._out: list = []

    def feed(self, data: bytes) -> list[Message]:
        """The messages in ``data`` (and in what earlier calls left unfinished)."""
        return [m for m in self.decode(data) if isinstance(m, Message)]

    def decode(self, data: bytes) -> list[Message | LinkEvent]:
        """Messages and link events, in the order the bytes give them, whatever the chunking."""
        self._out = out = []
        self.stats.bytes_in += len(data)
        pos = 0
        while True:
            i = data.find(0, pos)
            if i < 0:
                self._keep(data, pos)
                return out
            if self._skipping:
                self._discard(i - pos)
                self._skipping = False
            elif self._buf:
                self._buf += data[pos:i]
                frame = bytes(self._buf)
                self._buf.clear()
                self._frame(frame)
            elif i > pos:
                self._frame(data[pos:i])
            pos = i + 1

    def _keep(self, data: bytes, pos: int) -> None:
        n = len(data) - pos
        if self._skipping:
            self._discard(n)
        elif len(self._buf) + n > MAX_ENCODED:
            self._discard(len(self._buf) + n)
            self._fail("oversize")
            self._buf.clear()
            self._skipping = True
        else:
            self._buf += data[pos:]

    def _discard(self, n: int) -> None:
        self.stats.bytes_discarded += n
        if self._last_board is not None:
            self.stats.boards[self._last_board].bytes_discarded += n

    def _fail(self, reason: str, enc: bytes | None = None) -> None:
        s = self.stats
        setattr(s, _ERROR_COUNTER[reason], getattr(s, _ERROR_COUNTER[reason]) + 1)
        if reason == "crc" and self._last_board is not None:
            s.boards[self._last_board].crc_errors += 1
        if enc is not None:
            self._discard(len(enc))
        self._out.append(FrameError(reason))

    def _frame(self, enc: bytes) -> None:
        if len(enc) > MAX_ENCODED:
            return self._fail("oversize", enc)
        try:
            raw = cobs.decode(enc)
        except cobs.DecodeError:
            return self._fail("cobs", enc)
        if len(raw) < HEADER_SIZE + CRC_SIZE:
            return self._fail("too_short", enc)
        if len(raw) > MAX_FRAME:          # it may encode in <= MAX_ENCODED bytes, but no board may send it
            return self._fail("oversize", enc)
        if crc32c(raw[:-CRC_SIZE]) != _CRC.unpack_from(raw, len(raw) - CRC_SIZE)[0]:
            return self._fail("crc", enc)
        major, minor, mtype, _flags, board, seq, ts = _HEADER.unpack_from(raw)
        if major != VERSION_MAJOR:
            return self._fail("version", enc)
        self._track(board, seq, ts, mtype == MSG_HELLO)   # a valid CRC and major version: the header counts
        try:
            msg = _parse(mtype, raw[HEADER_SIZE:-CRC_SIZE], {"board_id": board, "seq": seq, "timestamp_us": ts},
                         minor)
        except (struct.error, ValueError, IndexError):   # UnicodeDecodeError is a ValueError
            return self._fail("malformed", enc)
        if msg is None:
            self.stats.unknown_type += 1
            return
        self.stats.frames += 1
        self._out.append(msg)

    def _track(self, board: int, seq: int, ts: int, hello: bool) -> None:
        """Sequence numbers and boots, PROTOCOL.md section 7."""
        self._last_board = board
        b = self.stats.boards.get(board)
        if b is None:
            self.stats.boards[board] = BoardStats(frames=1, last_seq=seq, newest_us=ts)
            return
        b.frames += 1
        if ts < b.newest_us - REBOOT_CLOCK_BACK_US or (hello and seq == 0 and ts < BOOT_HELLO_US):
            owed, b.missing = len(b.missing), set()
            self._lost(board, b, owed)                    # what the old boot still owed will not come
            b.resets += 1
            b.last_seq, b.newest_us = seq, ts
            self._out.append(BoardReboot(board, seq, ts))
            return
        b.newest_us = max(b.newest_us, ts)
        ahead = (seq - b.last_seq) & 0xFFFFFFFF           # modulo 2^32: the sequence number wraps
        if 0 < ahead < 2**31:
            skipped = ahead - 1
            if skipped:
                b.seq_gaps += 1
                # Only the newest REORDER_WINDOW of them can still come late; older ones are lost now.
                kept = min(skipped, REORDER_WINDOW)
                b.missing.update((seq - k) & 0xFFFFFFFF for k in range(1, kept + 1))
                self._lost(board, b, skipped - kept)
            b.last_seq = seq
            expired = {m for m in b.missing if (seq - m) & 0xFFFFFFFF > REORDER_WINDOW}
            if expired:
                b.missing -= expired
                self._lost(board, b, len(expired))
        elif seq in b.missing:
            b.missing.discard(seq)
            b.frames_late += 1
        else:
            b.frames_stale += 1

    def _lost(self, board: int, b: BoardStats, n: int) -> None:
        if n:
            b.frames_lost += n
            self._out.append(FramesLost(board, n))


_ERROR_COUNTER = {"cobs": "cobs_errors", "too_short": "too_short", "oversize": "oversize", "crc": "crc_errors",
                  "version": "unsupported_version", "malformed": "malformed"}
