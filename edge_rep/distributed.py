"""Where training runs: the device (CPU, or this rank's GPU) and, under ``torchrun --nproc_per_node N``,
the process group (gloo on CPU, nccl when every local rank has a GPU). Rank 0 writes files."""

from __future__ import annotations

import os

import torch

from .errors import EdgeRepError


def dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _gpu_per_rank() -> bool:
    """True when CUDA is available with a GPU for every local process (torchrun's LOCAL_WORLD_SIZE)."""
    return torch.cuda.is_available() and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) <= torch.cuda.device_count()


def resolve_device(name: str) -> torch.device:
    """``auto``: this rank's GPU when there is one per local process, else the CPU."""
    if name == "auto":
        if not _gpu_per_rank():
            return torch.device("cpu")
        name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise EdgeRepError(f"device '{name}': use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EdgeRepError(f"device '{name}': this torch build sees no CUDA GPU; use --device cpu")
    return dev


def init_distributed(device: str = "auto") -> bool:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): nccl when ranks train on GPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return False
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    return True
