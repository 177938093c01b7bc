"""The keeper's host figures (engine/host_stats.py) and the strip that shows them: real psutil
readings of this machine, the real "no GPU found" path, and the GPU path through a fake NVML."""

from __future__ import annotations

import shutil
import sys
import textwrap

import psutil
import pytest

from swarmtui.engine import events as ev
from swarmtui.engine.host_stats import NO_GPU, GpuReader, HostSampler
from swarmtui.engine.metrics import MetricsObserver
from swarmtui.tui.panes.host import host_line

GB = 1 << 30


def test_real_readings_of_this_machine(tmp_path):
    sampler = HostSampler(tmp_path, points=3)
    samples = [sampler.sample() for _ in range(5)]
    last = samples[-1]
    assert last["mem_total"] == psutil.virtual_memory().total
    assert 0 < last["mem_used"] <= last["mem_total"]
    assert 0.0 <= last["cpu_percent"] <= 100.0
    assert last["cpu_count"] == psutil.cpu_count()
    free = shutil.disk_usage(tmp_path).free
    assert abs(last["disk_free"] - free) < 256 << 20       # other helpers write to this disk meanwhile
    assert last["disk_total"] == shutil.disk_usage(tmp_path).total
    assert last["swap_total"] == psutil.swap_memory().total
    # The history is bounded and in percentages.
    assert len(last["history"]["cpu"]) == 3 and len(last["history"]["mem"]) == 3
    assert all(0 <= v <= 100 for v in last["history"]["mem"])
    assert ev.HostStats(**last).mem_total == last["mem_total"]       # the event takes the sample as it is


def test_a_missing_checkout_is_an_unknown_disk_not_an_error(tmp_path):
    sample = HostSampler(tmp_path / "gone").sample()
    assert sample["disk_free"] is None and sample["mem_total"]


def test_no_gpu_found_for_real(tmp_path):
    # This machine has no NVIDIA GPU (and no nvidia-ml-py): the real path, nothing faked.
    reader = GpuReader()
    gpus = reader.read()
    if gpus:
        pytest.skip("this machine has an NVIDIA GPU")
    assert reader.note.startswith(NO_GPU)
    sample = HostSampler(tmp_path, gpu=reader).sample()
    assert sample["gpus"] == [] and sample["gpu_note"].startswith(NO_GPU)
    assert "gpu_mem" not in sample["history"]
    assert NO_GPU in host_line(ev.HostStats(**sample), 200).plain


# No NVIDIA GPU or driver can run here, so NVML is replaced by a module with the same names
# (the subset of nvidia-ml-py's pynvml that host_stats calls), put first on sys.path under the
# real name: the import, the calls and the error handling are the ones a GPU host runs.
FAKE_PYNVML = '''
import types

class NVMLError(Exception):
    pass

DEVICES = {devices!r}

def nvmlInit():
    if DEVICES is None:
        raise NVMLError("Driver Not Loaded")

def nvmlShutdown():
    pass

def nvmlDeviceGetCount():
    return len(DEVICES)

def nvmlDeviceGetHandleByIndex(i):
    return DEVICES[i]

def nvmlDeviceGetName(h):
    return h["name"].encode()       # older nvidia-ml-py versions return bytes

def nvmlDeviceGetMemoryInfo(h):
    return types.SimpleNamespace(used=h["used"], total=h["total"], free=h["total"] - h["used"])

def nvmlDeviceGetUtilizationRates(h):
    if h.get("util") is None:
        raise NVMLError("Not Supported")
    return types.SimpleNamespace(gpu=h["util"], memory=0)
'''


@pytest.fixture
def fake_nvml(tmp_path, monkeypatch):
    def install(devices):
        folder = tmp_path / "fake_nvml"
        folder.mkdir(exist_ok=True)
        (folder / "pynvml.py").write_text(textwrap.dedent(FAKE_PYNVML.format(devices=devices)))
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    yield install
    sys.modules.pop("pynvml", None)


def test_gpu_figures_through_nvml(tmp_path, fake_nvml):
    fake_nvml([{"name": "NVIDIA A10", "used": 6 * GB, "total": 24 * GB, "util": 50},
               {"name": "NVIDIA A10", "used": 18 * GB, "total": 24 * GB, "util": None}])
    sampler = HostSampler(tmp_path)
    sample = sampler.sample()
    assert [g["name"] for g in sample["gpus"]] == ["NVIDIA A10", "NVIDIA A10"]
    assert [g["mem_used"] for g in sample["gpus"]] == [6 * GB, 18 * GB]
    assert [g["util"] for g in sample["gpus"]] == [50.0, None]      # not supported: missing, not fatal
    assert sample["gpu_note"] == ""
    assert sample["history"]["gpu_mem"] == [50.0]
    assert sample["history"]["gpu_util"] == [50.0]
    e = ev.HostStats(**sample)
    assert "2 GPUs 24.0G/48.0G 50%" in host_line(e, 200).plain

    metrics = MetricsObserver("n")
    metrics.observe(e)
    family = next(f for f in metrics.families() if f.name == "swarmtui_gpu_memory_used_bytes")
    assert family.labels == ("node", "gpu")
    assert family.samples == ((("n", "0"), float(6 * GB)), (("n", "1"), float(18 * GB)))
    sampler.close()


@pytest.mark.parametrize("devices, why", [([], NO_GPU), (None, "Driver Not Loaded")])
def test_nvml_without_a_device_or_driver_says_no_gpu_found(tmp_path, fake_nvml, devices, why):
    fake_nvml(devices)
    sample = HostSampler(tmp_path).sample()
    assert sample["gpus"] == []
    assert sample["gpu_note"].startswith(NO_GPU) and why in sample["gpu_note"]
    metrics = MetricsObserver("n")
    metrics.observe(ev.HostStats(**sample))
    assert next(f for f in metrics.families() if f.name == "swarmtui_gpu_memory_used_bytes").samples == ()


def test_the_strip_fits_its_width_and_warns():
    e = ev.HostStats(cpu_percent=97.0, mem_used=60 * GB, mem_total=64 * GB, swap_used=0, swap_total=0,
                     disk_free=1 * GB, disk_total=500 * GB, gpu_note="no GPU found",
                     history={"cpu": [10.0, 50.0, 97.0], "mem": [90.0, 93.0, 94.0]})
    wide = host_line(e, 150)
    assert wide.plain.startswith("CPU 97% ▁▄█ │ RAM 60.0G/64.0G ███ │")
    assert "swap none" in wide.plain and "disk 1.0G free" in wide.plain
    narrow = host_line(e, 62)
    assert "RAM 94%" in narrow.plain and len(narrow.plain) <= 62
    styles = {str(span.style) for span in wide.spans}
    assert any("error" in s for s in styles)        # 97 % CPU, 94 % RAM and 1 GB of disk are red
