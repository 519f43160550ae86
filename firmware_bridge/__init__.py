"""firmware_bridge: the sensor board <-> host link (wire protocol, codec, firmware, simulator, logs)."""
