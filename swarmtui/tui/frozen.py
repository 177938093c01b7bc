"""A still picture of a busy node: fixed events, paths, pids, clock and host, for screenshots and
snapshot tests. Nothing here runs a process; `StillEngine` only replays these events and keeps
the commands it is sent."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from swarmtui.engine import events as ev

ROOT = Path("/home/operator/rl-swarm")
HOST = "gpu-box-7"
USER = "operator"
NOW = _dt.datetime(2025, 11, 26, 14, 30, 0, tzinfo=_dt.timezone.utc)
PEER = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"


@dataclass(frozen=True)
class StillLayout:
    """The fields of node.layout.Layout the panel reads, for a checkout that does not exist."""
    root: Path = ROOT
    era: str = "codezero"
    era_label: str = "CodeZero (v0.7+)"
    script: Path = ROOT / "run_rl_swarm.sh"
    identity_path: Path = ROOT / "swarm.pem"
    temp_data_dir: Path = ROOT / "modal-login" / "temp-data"
    user_data_path: Path = ROOT / "modal-login" / "temp-data" / "userData.json"
    api_key_path: Path = ROOT / "modal-login" / "temp-data" / "userApiKey.json"
    logs_dir: Path = ROOT / "logs"
    log_files: tuple[Path, ...] = (ROOT / "logs" / "swarm_launcher.log", ROOT / "logs" / "yarn.log")
    login_port: int = 3000


def frozen_clock() -> float:
    return 1000.0


def frozen_wall_clock() -> _dt.datetime:
    return NOW


def _ts(minutes_ago: float) -> str:
    return (NOW - _dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def log_lines() -> list[ev.LogLine]:
    launcher = "logs/swarm_launcher.log"
    rows: list[tuple[str, str, str | None, str | None]] = [
        ("pty", ">> Done!", None, None),
        ("pty", ">> Playing PRG game: true", None, None),
        (launcher, "[2025-11-26 14:01:12,003][genrl.logging_utils.global_defs][INFO] - Starting round: 1204/1000000.", "INFO", None),
        (launcher, "[2025-11-26 14:01:12,410][hivemind.dht.dht][DEBUG] - DHT node bootstrap ok (5 peers)", "DEBUG", None),
        ("logs/yarn.log", "POST /api/submit-reward 200 in 412ms", None, None),
        (launcher, "[2025-11-26 14:06:40,120][genrl.logging_utils.global_defs][INFO] - Joining round: 1205", "INFO", None),
        (launcher, "[2025-11-26 14:06:41,002][genrl.logging_utils.global_defs][INFO] - Starting round: 1205/1000000.", "INFO", None),
        (launcher, "[2025-11-26 14:09:03,777][genrl][WARNING] - Failed to submit to chain. This is most likely transient", "WARNING", None),
        ("pty", "train step 21/40: 52%|█████▎    | 21/40 [01:44<01:35, 5.01s/it]", None, None),
        (launcher, "[2025-11-26 14:12:20,551][genrl.logging_utils.global_defs][INFO] - Starting round: 1206/1000000.", "INFO", None),
        ("pty", "./run_rl_swarm.sh: line 287:  4312 Killed                  python -m code_gen_exp.runner.swarm_launcher", None, "oom-killed"),
        ("pty", ">> Shutting down trainer...", None, None),
        ("pty", ">> Running rl-swarm (CodeZero)", None, None),
        (launcher, "[2025-11-26 14:20:02,114][genrl][INFO] - 🐱 Hello 🐈 [sly pensive lynx] 🦮 [QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N]!", "INFO", None),
        (launcher, "[2025-11-26 14:20:30,902][hivemind.p2p.p2p_daemon][ERROR] - Failed to connect to bootstrap peer /ip4/38.101.215.12/tcp/30011", "ERROR", None),
        (launcher, "[2025-11-26 14:21:00,004][genrl.logging_utils.global_defs][INFO] - Joining round: 1207", "INFO", None),
        (launcher, "[2025-11-26 14:21:00,551][genrl.logging_utils.global_defs][INFO] - Starting round: 1207/1000000.", "INFO", None),
        ("logs/yarn.log", "POST /api/register-peer 200 in 1021ms", None, None),
        (launcher, "[2025-11-26 14:27:31,330][genrl.logging_utils.global_defs][INFO] - Starting round: 1208/1000000.", "INFO", None),
        ("pty", "train step 12/40: 30%|███       | 12/40 [01:00<02:20, 5.00s/it]", None, None),
    ]
    return [ev.LogLine(source=s, line=i + 1, text=t, level=lvl, detection=det) for i, (s, t, lvl, det) in enumerate(rows)]


def processes() -> list[ev.ProcInfo]:
    mb = 1024 * 1024
    return [
        ev.ProcInfo(41000, 1, "bash", "bash run_rl_swarm.sh", "launcher", 0.0, 4 * mb, 600.0, [], True, "descendant"),
        ev.ProcInfo(41022, 41000, "node", "node .../next start", "login-server", 0.4, 182 * mb, 590.0, [3000], True, "descendant"),
        ev.ProcInfo(41090, 41000, "ollama", "ollama serve", "ollama", 0.1, 96 * mb, 585.0, [11434], True, "descendant"),
        ev.ProcInfo(41130, 41000, "python", "python -m code_gen_exp.runner.swarm_launcher", "trainer", 187.5, 6400 * mb, 560.0, [], True, "descendant"),
        ev.ProcInfo(41166, 41130, "python", "python -m code_gen_exp.runner.swarm_launcher", "dht", 3.2, 410 * mb, 555.0, [], True, "descendant"),
        ev.ProcInfo(41170, 41166, "p2pd", "p2pd -id=/home/operator/rl-swarm/swarm.pem", "p2pd", 1.1, 38 * mb, 554.0, [], True, "p2pd-id"),
        ev.ProcInfo(39001, 1, "p2pd", "p2pd -id=/home/other/rl-swarm/swarm.pem", "other", 0.4, 36 * mb, 7200.0, [38331], False, "",
                    "holds :38331, the port this node's config listens on"),
    ]


def identity_report() -> dict[str, Any]:
    return {
        "pem_path": str(ROOT / "swarm.pem"),
        "pem_state": "ok",
        "peer_id": PEER,
        "animal_name": "sly pensive lynx",
        "login": {"user_data": True, "api_key": True, "org_id": "3f2b6c1e-5d4a-4e8b-9c2d-1a7e0b9f4c21",
                  "address": "0x8Ba1f109551bD432803012645Ac136ddd64DBA72", "email": None,
                  "keys": 2, "activated": True, "created_at": "2025-11-20T09:12:44Z"},
        "problems": [],
    }


def history_records() -> list[dict[str, Any]]:
    return [
        {"ts": _ts(300), "reason": "p2pd-startup-timeout",
         "text": "P2PDaemonError: Daemon failed to start in 15.0 seconds", "source": "pty", "line": 811,
         "exit_code": 143, "signal": None, "uptime_s": 95.0, "orphans_killed": [{"pid": 30110, "cmdline": "p2pd -id=..."}],
         "evidence": ["hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError: Daemon failed to start in 15.0 seconds",
                      ">> Shutting down trainer..."]},
        {"ts": _ts(130), "reason": "stalled", "text": "no round progress for 30m 00s", "source": "",
         "line": 0, "exit_code": None, "signal": 2, "uptime_s": 8100.0, "orphans_killed": [],
         "evidence": []},
        {"ts": _ts(10), "reason": "oom-killed",
         "text": "./run_rl_swarm.sh: line 287:  4312 Killed  python -m code_gen_exp.runner.swarm_launcher",
         "source": "pty", "line": 2214, "exit_code": 137, "signal": None, "uptime_s": 3725.0,
         "orphans_killed": [{"pid": 38544, "cmdline": "p2pd -id=/home/operator/rl-swarm/swarm.pem"}],
         "submit_may_be_lost": True,
         "evidence": ["[2025-11-26 14:18:40][genrl][INFO] - Starting round: 1206/1000000.",
                      "train step 33/40: 82%|████████▎ | 33/40",
                      "./run_rl_swarm.sh: line 287:  4312 Killed  python -m code_gen_exp.runner.swarm_launcher",
                      ">> Shutting down trainer..."]},
    ]


def round_trends() -> ev.RoundTrends:
    """The last 40 rounds over this run and the two before it: ~6.5 min each, two slow ones."""
    durations = [392.0 + (i * 37) % 29 for i in range(40)]
    durations[14], durations[33] = 655.0, 540.0
    rounds = [{"round": 1168 + i, "end": _ts(4 + 6.7 * (39 - i)), "duration_s": d, "reward": None,
               "bets": None, "claims": None} for i, d in enumerate(durations)]
    return ev.RoundTrends(rounds=rounds)


def host_stats() -> ev.HostStats:
    """A 16-core, 64 GB host with one 24 GB GPU, two minutes into a run that fills memory."""
    gb = 1 << 30
    history = {"cpu": [22.0 + (i * 13) % 40 for i in range(60)],
               "mem": [48.0 + i * 0.5 for i in range(60)],
               "swap": [3.0] * 60,
               "gpu_mem": [60.0 + (i % 10) * 2.5 for i in range(60)],
               "gpu_util": [80.0 + (i * 7) % 19 for i in range(60)]}
    return ev.HostStats(cpu_percent=41.0, cpu_count=16, mem_used=int(50.6 * gb), mem_total=64 * gb,
                        swap_used=int(0.3 * gb), swap_total=8 * gb, disk_free=int(41.2 * gb), disk_total=512 * gb,
                        disk_path=str(ROOT),
                        gpus=[{"index": 0, "name": "NVIDIA GeForce RTX 4090", "mem_used": int(18.2 * gb),
                               "mem_total": 24 * gb, "util": 87.0}],
                        history=history)


def busy_events() -> list[ev.Event]:
    """A node 10 minutes after its third restart: running, mid-round, three restarts recorded."""
    events: list[ev.Event] = [ev.IdentityChanged(report=identity_report())]
    for record in history_records():
        events.append(ev.HistoryAppended(record=record))
    events += [
        ev.StateChanged(state=ev.RUNNING, reason="", detail="round 1208, stage 0", uptime_s=612.0),
        ev.ProcessSnapshot(procs=processes()),
        host_stats(),
        round_trends(),
        ev.ProgressUpdate(round=1208, stage=0, step=12, total=40, era="codezero", rate="5.00s/it",
                          eta_s=140.0, rounds_completed=17, rounds_skipped=[1203],
                          last_rewards=None, since_progress_s=38.0,
                          round_durations=[402.0, 395.0, 410.0, 388.0, 420.0, 640.0, 398.0, 401.0, 392.0, 405.0, 389.0, 399.0]),
        ev.LinesOut(lines=log_lines(), partial=""),
    ]
    return events


# What the supervisor says when the identity is taken and no leftover of ours held it: the
# longest needs-you text the engine writes (detail; hint), cut by the status line at any width.
IDENTITY_TAKEN_DETAIL = (
    "no leftover process of ours held this identity, so another node (another machine, or a copy of "
    "this swarm.pem) is online with it: restarting cannot help; another node is online with this "
    "swarm.pem: usually our own orphaned p2pd (swarmtui kills it); otherwise stop the other machine's "
    "node. Never delete the pem (hivemind PR #511)")


def needs_you_events() -> list[ev.Event]:
    """The busy node's run ended on a taken identity: nothing of ours runs, the node waits."""
    events = [e for e in busy_events() if not isinstance(e, (ev.StateChanged, ev.ProcessSnapshot))]
    events += [ev.ProcessSnapshot(procs=[p for p in processes() if not p.ours]),
               ev.StateChanged(state=ev.NEEDS_USER, reason="identity-taken", detail=IDENTITY_TAKEN_DETAIL,
                               uptime_s=41.0)]
    return events


def login_events() -> list[ev.Event]:
    """A fresh start waiting for the browser login: the script and its login server run."""
    events = [e for e in busy_events() if not isinstance(e, (ev.StateChanged, ev.ProcessSnapshot))]
    waiting = [p for p in processes() if not p.ours or p.role in ("launcher", "login-server")]
    events += [ev.ProcessSnapshot(procs=waiting),
               ev.StateChanged(state=ev.LOGIN_REQUIRED, reason="login-waiting", detail="", uptime_s=95.0),
               ev.LoginRequired(url="http://localhost:3000", ssh_hint="", waiting_for="userData.json")]
    return events


def backoff_events() -> list[ev.Event]:
    """The busy node's run just died (OOM): nothing of ours runs, the next start is counted down."""
    events = [e for e in busy_events() if not isinstance(e, (ev.StateChanged, ev.ProcessSnapshot))]
    events += [ev.ProcessSnapshot(procs=[p for p in processes() if not p.ours]),
               ev.StateChanged(state=ev.BACKOFF, reason="oom-killed", detail="restart #3 (3 in the last hour)",
                               uptime_s=3725.0, next_restart_in=95.0)]
    return events


@dataclass
class StillEngine:
    """Replays `events` on start and records what it is sent. Stays in whatever state the events
    left it in; a StopNode moves it to stopped (so quitting works in screenshots and demos)."""
    emit: Callable[[ev.Event], None]
    events: list[ev.Event] = field(default_factory=busy_events)
    layout: Any = field(default_factory=StillLayout)
    state: str = ev.RUNNING
    sent: list[ev.Command] = field(default_factory=list)
    closed: list[bool] = field(default_factory=list)
    killed: int = 0

    async def start(self) -> None:
        for e in self.events:
            if isinstance(e, ev.StateChanged):
                self.state = e.state
            self.emit(e)

    def send(self, cmd: ev.Command) -> None:
        self.sent.append(cmd)
        if isinstance(cmd, ev.StopNode):
            self.state = ev.STOPPED
            self.emit(ev.StateChanged(state=ev.STOPPED, reason=cmd.reason))

    async def close(self, stop_node: bool = True, reason: str = "manual") -> None:
        self.closed.append(stop_node)

    def emergency_kill(self) -> None:
        self.killed += 1


def still_app(events: Callable[[], list[ev.Event]] = busy_events, **kw: Any):
    """The panel over the still picture (`events`), with every moving part frozen."""
    from swarmtui.tui.app import SwarmApp

    options: dict[str, Any] = dict(host=HOST, user=USER, clock=frozen_clock, wall_clock=frozen_wall_clock,
                                   stall_limit_s=1800.0, silence_limit_s=1200.0, catch_signals=False,
                                   # true colour whatever TERM the caller has; low_colour=True shows 16
                                   low_colour=False)
    options.update(kw)
    return SwarmApp(lambda emit: StillEngine(emit, events=events()), **options)


async def settle(pilot, timeout: float = 10.0) -> None:
    """Bring a still_app under Pilot to its final picture: the engine started, its events shown,
    every table's columns sized and the log scrolled to its end. Those happen in idle handlers
    and after refreshes, which a busy machine can put off past any fixed pause, so this waits
    for the tables themselves and then for two identical pictures in a row."""
    import asyncio
    import time

    from textual.widgets import DataTable

    app = pilot.app
    end = time.monotonic() + timeout
    # The engine is launched after the first frame: until it has started there is no worker to
    # wait for and nothing to drain.
    while not app._engine_started and time.monotonic() < end:
        await pilot.pause(0.02)
    await app.workers.wait_for_complete()
    app._drain()
    last, same = None, 0
    while time.monotonic() < end and same < 2:
        await pilot.pause()
        await asyncio.sleep(0.05)
        if any(getattr(t, "_require_update_dimensions", False) or getattr(t, "_updated_cells", None)
               for t in app.query(DataTable)):
            last, same = None, 0
            continue
        picture = app.export_screenshot()
        same = same + 1 if picture == last else 0
        last = picture
