"""firmware_bridge: the sensor board <-> host link (wire protocol, codec, firmware, simulator, logs).

    protocol    message dataclasses (Hello, Data, Heartbeat, Status) and constants; PROTOCOL.md is normative
    codec       encode(msg) -> bytes, Decoder().feed(bytes) -> [messages] (never raises, bounded memory)
    csv_input   CsvDecoder: CSV lines from hobby boards -> the same messages
    port        open_port (one-line errors) and PortReader (reopens after unplugs)
    sensorlog   LogWriter / read_log / to_recording: raw byte logs with host times (LOGFORMAT.md)
    simulator   Simulator(recording, Scenario, seed).frames(): a board's bytes with faults; PtyLink
    export      a decoded log as a dataset recording, WAV or miniSEED
    firmware/   C99 reference encoder and example RP2040 application
"""
