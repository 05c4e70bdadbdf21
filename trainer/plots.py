"""PNG plots for training and evaluation reports (matplotlib, no display)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def loss_curve(history_csv: Path, png: Path) -> None:
    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(epochs, [float(r["loss"]) for r in rows], label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if rows[0].get("val_acc"):
        ax2 = ax.twinx()
        ax2.plot(epochs, [float(r["val_acc"]) for r in rows], color="tab:green", label="held-out pair accuracy")
        ax2.set_ylabel("held-out accuracy")
        ax2.legend(loc="center right")
    ax.legend(loc="upper center")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def roc_curve(far, tar, png: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(far, tar)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def distance_histogram(same_d, diff_d, threshold: float, png: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(same_d, bins=60, alpha=0.6, label="same person")
    ax.hist(diff_d, bins=60, alpha=0.6, label="different people")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("cosine distance")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
