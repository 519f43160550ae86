"""A Mosquitto broker on localhost for the MQTT tests (installed by tests/system_deps.sh when absent).

    port = free_port()
    broker = Broker(port, tmp_path)          # started; .stop(), .start() again (a broker restart)
    sub, got = subscribe(port, "edge-rep/#") # collects (topic, JSON payload)
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path


def mosquitto() -> str:
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        subprocess.run(["bash", str(Path(__file__).with_name("system_deps.sh"))], check=True)
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return exe


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    """Mosquitto on 127.0.0.1:``port``; with ``persistence`` its sessions and queued messages survive a
    restart (kept in ``folder``)."""

    def __init__(self, port: int, folder: Path, persistence: bool = False, start: bool = True):
        self.port = port
        self.conf = Path(folder) / f"mosquitto-{port}.conf"
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
        lines += (["persistence true", f"persistence_location {folder}/", "autosave_interval 1"] if persistence
                  else ["persistence false"])
        if persistence and os.geteuid() == 0:
            lines.append("user root")        # else it drops to user mosquitto, who cannot write into our folder
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc = None
        if start:
            self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([mosquitto(), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"mosquitto did not start: {self.proc.stderr.read().decode()[:300]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


def subscribe(port: int, topic: str, client_id: str | None = None, clean: bool = True):
    """A running subscriber on ``topic`` (QoS 1); returns (client, list that collects (topic, JSON payload)).
    ``clean=False`` keeps its session at the broker while it is away (needs a ``client_id``)."""
    import paho.mqtt.client as mqtt
    got, subscribed = [], threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"test-sub-{topic}",
                      clean_session=clean)
    sub.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    assert subscribed.wait(5)
    return sub, got


def wait_for(cond, timeout: float = 10.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
