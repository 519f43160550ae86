"""A tiny profile and tiny labelled recordings for model, training, evaluation and export tests."""

import numpy as np

from edge_rep.profiles import ModalitySpec, Profile
from edge_rep.recording import Channels, LabelInterval, Recording

TINY = Profile("tiny", (ModalitySpec("acoustic", 800.0, 1, "Pa"), ModalitySpec("seismic", 100.0, 1, "m/s")),
               window_s=1.0, hop_s=0.5, intervals=4, classes=("a", "b", "c"))


def tiny_recordings(n: int = 12, seconds: float = 4.0, seed: int = 0) -> list[Recording]:
    """Class c: acoustic tone at 100 + 100c Hz and seismic tone at 10 + 10c Hz, in noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        c = i % 3
        ta, ts = np.arange(int(800 * seconds)) / 800, np.arange(int(100 * seconds)) / 100
        ac = 0.5 * np.sin(2 * np.pi * (100 + 100 * c) * ta) + 0.3 * rng.standard_normal(ta.size)
        se = 1e-6 * np.sin(2 * np.pi * (10 + 10 * c) * ts) + 3e-7 * rng.standard_normal(ts.size)
        out.append(Recording(f"r{seed}-{i}", {"acoustic": Channels(ac, 800.0, units="Pa"),
                                              "seismic": Channels(se, 100.0, units="m/s")},
                             [LabelInterval(0.0, seconds, TINY.classes[c])]))
    return out
