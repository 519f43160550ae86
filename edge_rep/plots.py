"""Figures a person would rather look at than read (matplotlib, the 'train' extra; Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_confusion(path: Path, cm, classes: tuple[str, ...], title: str) -> None:
    """A confusion matrix (rows: true class, columns: predicted) with counts, as a PNG."""
    plt = _pyplot()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_lines(path: Path, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str, title: str) -> None:
    """One line per named series of (x, y) points, as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, pts in series.items():
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(path: Path, curves: dict[str, dict], title: str) -> None:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per scenario
    (``curves``: name -> edge_rep.confidence.reliability record), with the diagonal of perfect calibration
    and each scenario's ECE in the legend, as a PNG."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for name, r in curves.items():
        pts = [(c, a) for c, a in zip(r["confidence"], r["accuracy"]) if c is not None]
        if pts:
            c, a = zip(*pts)
            ax.plot(c, a, marker="o", markersize=3, label=f"{name} (ECE {r['ece']:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
