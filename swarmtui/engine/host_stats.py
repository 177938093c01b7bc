"""The host's figures that OOM and disk-full failures are understood with: CPU, RAM, swap, the
checkout's free disk, and NVIDIA GPU memory/utilisation when there is such a GPU.

The keeper samples them (with its process snapshot) and sends them as events, so a panel attached
over a socket or ssh shows the figures of the host the node runs on, not its own. A short history
of each figure travels in every event, so a viewer that attaches now draws the same sparklines.

GPU figures come from NVIDIA's NVML through `nvidia-ml-py` (module `pynvml`), an optional
dependency (`pip install swarmtui[gpu]`), imported on the first sample only: without it, without
a driver or without a device the figures say why ("no GPU found") and nothing else changes.
"""

from __future__ import annotations

import importlib
from collections import deque
from pathlib import Path
from typing import Any

import psutil

HISTORY_POINTS = 60             # two minutes at the default 2 s snapshot interval
SERIES = ("cpu", "mem", "swap", "gpu_mem", "gpu_util")   # percentages, oldest first
NO_GPU = "no GPU found"


def _nvml_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GpuReader:
    """NVML, initialised once; every failure after that is a figure missing, never an error."""

    def __init__(self, module: str = "pynvml"):
        self.module = module
        self._nvml: Any = None
        self._handles: list[Any] = []
        self.note = ""              # why there are no GPU figures
        self._tried = False

    def _init(self) -> None:
        self._tried = True
        try:
            nvml = importlib.import_module(self.module)
        except ImportError:
            self.note = f"{NO_GPU} (nvidia-ml-py not installed)"
            return
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
            self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception as exc:    # NVMLError_LibraryNotFound / DriverNotLoaded: no NVIDIA driver
            self.note = f"{NO_GPU} ({_nvml_text(exc) or type(exc).__name__})"
            return
        if not self._handles:
            self.note = NO_GPU
            return
        self._nvml = nvml

    def read(self) -> list[dict[str, Any]]:
        if not self._tried:
            self._init()
        nvml = self._nvml
        if nvml is None:
            return []
        gpus = []
        for index, handle in enumerate(self._handles):
            gpu: dict[str, Any] = {"index": index, "name": "", "mem_used": None, "mem_total": None, "util": None}
            try:
                gpu["name"] = _nvml_text(nvml.nvmlDeviceGetName(handle))
            except Exception:
                pass
            try:
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                gpu["mem_used"], gpu["mem_total"] = int(mem.used), int(mem.total)
            except Exception:
                pass
            try:
                gpu["util"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:
                pass
            gpus.append(gpu)
        return gpus

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None


def _percent(used: float | None, total: float | None) -> float | None:
    if used is None or not total:
        return None
    return round(100.0 * used / total, 1)


class HostSampler:
    """One sample per call, with the history of each figure as percentages (oldest first)."""

    def __init__(self, disk_path: Path | str, *, points: int = HISTORY_POINTS, gpu: GpuReader | None = None):
        self.disk_path = str(disk_path)
        self.gpu = gpu or GpuReader()
        self.history: dict[str, deque[float]] = {name: deque(maxlen=points) for name in SERIES}
        # The first cpu_percent(None) has nothing to compare with and says 0.0: prime it now.
        psutil.cpu_percent(interval=None)

    def sample(self) -> dict[str, Any]:
        """The fields of events.HostStats."""
        out: dict[str, Any] = {"cpu_percent": float(psutil.cpu_percent(interval=None)),
                               "cpu_count": psutil.cpu_count() or 0}
        mem = psutil.virtual_memory()
        out["mem_used"], out["mem_total"] = int(mem.total - mem.available), int(mem.total)
        swap = psutil.swap_memory()
        out["swap_used"], out["swap_total"] = int(swap.used), int(swap.total)
        try:
            disk = psutil.disk_usage(self.disk_path)
            out["disk_free"], out["disk_total"] = int(disk.free), int(disk.total)
        except OSError:             # the checkout is gone or unreadable: the figure is unknown
            out["disk_free"] = out["disk_total"] = None
        out["disk_path"] = self.disk_path
        gpus = self.gpu.read()
        out["gpus"] = gpus
        out["gpu_note"] = "" if gpus else (self.gpu.note or NO_GPU)
        used = [g["mem_used"] for g in gpus if g["mem_used"] is not None]
        total = [g["mem_total"] for g in gpus if g["mem_total"] is not None]
        utils = [g["util"] for g in gpus if g["util"] is not None]
        figures = {
            "cpu": out["cpu_percent"],
            "mem": _percent(out["mem_used"], out["mem_total"]),
            "swap": _percent(out["swap_used"], out["swap_total"]) if out["swap_total"] else None,
            "gpu_mem": _percent(sum(used), sum(total)) if used and total else None,
            "gpu_util": round(sum(utils) / len(utils), 1) if utils else None,
        }
        for name, value in figures.items():
            if value is not None:
                self.history[name].append(float(value))
        out["history"] = {name: list(values) for name, values in self.history.items() if values}
        return out

    def close(self) -> None:
        self.gpu.close()
