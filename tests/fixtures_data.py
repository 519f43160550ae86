"""Writers of small input files in each public format the loaders read (shared by the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mod_csv_node(folder: Path, seconds: float = 3.0, t0: float = 1.6e9, seed: int = 0,
                       header: bool = True, seis_rate: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """A Raspberry Shake node folder: aud16000.csv (16 kHz) and ehz.csv (100 Hz), ``timestamp,value``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    na, ns = int(16000 * seconds), int(seis_rate * seconds)
    tone = 300.0 * np.sin(2 * np.pi * 440.0 * np.arange(na) / 16000)
    aud = np.round(tone + rng.normal(0, 5, na))
    ehz = np.round(rng.normal(0, 100, ns))
    for name, vals, rate in (("aud16000.csv", aud, 16000.0), ("ehz.csv", ehz, seis_rate)):
        ts = t0 + np.arange(len(vals)) / rate
        body = "\n".join(f"{t:.6f},{v:.0f}" for t, v in zip(ts, vals))
        (folder / name).write_text(("timestamp,value\n" if header else "") + body + "\n")
    return aud, ehz


def write_mod_pt(path: Path, label=3, fft: bool = False, seed: int = 0, audio_n: int = 1600) -> dict:
    """A FOCAL-style sample {label, flag, data[loc][mod]} saved with torch.save."""
    import torch

    rng = np.random.default_rng(seed)
    audio = torch.tensor(rng.normal(size=(1, 10, audio_n)), dtype=torch.float32)
    seismic = torch.tensor(rng.normal(size=(1, 10, 20)), dtype=torch.float32)
    sample = {"audio": audio, "seismic": seismic}
    if fft:
        sample = {k: torch.view_as_real(torch.fft.fft(v[0], dim=-1)).permute(2, 0, 1).contiguous()
                  for k, v in sample.items()}
    d = {"label": torch.tensor(label) if isinstance(label, int) else label,
         "flag": {"shake": {"audio": True, "seismic": True}}, "data": {"shake": sample}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(d, path)
    return {"audio": audio[0].reshape(-1).numpy(), "seismic": seismic[0].reshape(-1).numpy()}


def write_acids_run(root: Path, run: str, n_ac: int = 4096, n_se: int | None = None, seed: int = 0) -> None:
    """ACIDS layout: root/Acoustics/<run>.mat and root/Seismic/<run>.mat with Output_data columns."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    for folder, n in (("Acoustics", n_ac), ("Seismic", n_se or n_ac)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        savemat(root / folder / f"{run}.mat", {"Output_data": rng.normal(size=(n, 1))})


def write_wav(path: Path, rate: int = 16000, seconds: float = 2.5, channels: int = 1) -> np.ndarray:
    from scipy.io import wavfile

    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * 200 * t) * 32767).astype(np.int16)
    data = np.stack([x] * channels, 1) if channels > 1 else x
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, data)
    return x
