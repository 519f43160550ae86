"""CSV input: separators, the same messages as the binary decoder, bad lines counted as lost samples."""

from types import SimpleNamespace as NS

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.csv_input import MAX_LINE, CsvDecoder
from firmware_bridge.errors import BridgeError
from firmware_bridge.protocol import FMT_FLOAT32, Data, Hello

CHANNELS = [NS(name="mic", modality="acoustic", sample_rate=500.0, scale=0.01, units="Pa"),
            NS(name="geo", modality="seismic", sample_rate=500.0, scale=1e-6, units="m/s")]


def samples(msgs):
    """channel -> {index: value} from Data messages."""
    out = {0: {}, 1: {}}
    for m in msgs:
        if isinstance(m, Data):
            for b in m.blocks:
                assert b.fmt == FMT_FLOAT32 and b.samples.dtype == np.float32
                out[b.channel_id].update({b.first_index + i: float(v) for i, v in enumerate(b.samples)})
    return out


@pytest.mark.parametrize("sep,text", [("auto", "1,2\n3\t4\n5 6\n7;  8\n"), (",", "1,2\n3,4\n5,6\n7,8\n"),
                                      ("\t", "1\t2\r\n3\t4\r\n5\t6\r\n7\t8\r\n"), (" ", "1 2\n3  4\n5 6\n7 8\n")])
def test_separators(sep, text):
    dec = CsvDecoder(CHANNELS, separator=sep)
    msgs = dec.feed(text.encode())
    assert isinstance(msgs[0], Hello) and [c.modality for c in msgs[0].channels] == ["acoustic", "seismic"]
    assert msgs[0].channels[1].scale == 1e-6 and msgs[0].channels[0].sample_rate == 500.0
    s = samples(msgs)
    assert s == {0: {0: 1, 1: 3, 2: 5, 3: 7}, 1: {0: 2, 1: 4, 2: 6, 3: 8}}
    assert dec.stats.bad_lines == 0 and dec.stats.lines == 4


def test_bad_lines_are_counted_and_leave_gaps_split_across_feeds():
    dec = CsvDecoder(CHANNELS)
    text = b"mic,geo\n1,2\n3,x\n5,6,7\n8\nnan,1\n9,10\n11,1" + b"2\n"
    msgs = []
    for i in range(0, len(text), 3):                  # lines cut across feeds
        msgs += dec.feed(text[i:i + 3])
    s = samples(msgs)
    # header, "3,x", "5,6,7", "8" and "nan,1" each take a sample slot and are lost
    assert s[0] == {1: 1, 6: 9, 7: 11} and s[1] == {1: 2, 6: 10, 7: 12}
    assert dec.stats.bad_lines == 5 and dec.stats.lines == 8
    assert sum(isinstance(m, Hello) for m in msgs) == 1


def test_over_long_garbage_is_bounded_and_skipped():
    dec = CsvDecoder(CHANNELS)
    dec.feed(b"1,2\n")
    for _ in range(10):
        dec.feed(b"9" * 500)                           # no newline for 5000 bytes
        assert len(dec._buf) <= MAX_LINE
    s = samples(dec.feed(b"\n3,4\n"))
    assert s[0] == {2: 3.0} and dec.stats.bad_lines == 1


def test_config_errors():
    with pytest.raises(BridgeError, match="different sample rates"):
        CsvDecoder([CHANNELS[0], NS(name="g", modality="seismic", sample_rate=100.0, scale=1.0, units="")])
    with pytest.raises(BridgeError, match="no channels"):
        CsvDecoder([])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_fuzz_never_raises(blob):
    dec = CsvDecoder(CHANNELS)
    dec.feed(blob)
    assert len(dec._buf) <= MAX_LINE and dec.stats.bytes_in == len(blob)
