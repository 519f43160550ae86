"""firmware_bridge: the sensor board <-> host link, what a board integrator needs. The lower layer:
it never imports edge_rep (a test checks), and edge_rep builds on it.

    protocol    message dataclasses (Hello, Data, Heartbeat, Status) and constants; PROTOCOL.md is normative
    codec       encode(msg) -> bytes, Decoder().feed(bytes) -> [messages], .decode(bytes) -> [messages and link
                events: failed frames, lost frames, reboots] (never raises, bounded memory)
    csv_input   CsvDecoder: CSV lines from hobby boards -> the same messages
    port        open_port, PortReader feeding a PortProtocol (reopens after unplugs), PortError with a kind
    pty         PtyLink: a pseudo-terminal standing in for a board's serial port
    sensorlog   LogWriter / read_log / messages / decoder_for: raw byte logs with host times (LOGFORMAT.md)
    errors      BridgeError: the one user-facing error of this layer (one line)
    firmware/   C99 reference encoder and example RP2040 application

The board simulator (edge_rep.simulator), log conversion to recordings, WAV and miniSEED
(edge_rep.log_conversion) and the test logs (edge_rep.testlogs) need the model's world and live in edge_rep.
"""
