"""The words of the confirmations and the small formatters (pure functions)."""

from __future__ import annotations

from swarmtui import paths
from swarmtui.tui import format as fmt
from swarmtui.tui import wording
from swarmtui.tui.frozen import StillLayout


def test_stop_says_what_rl_swarm_deletes_and_depends_on_keep_login():
    layout = StillLayout()
    off = "\n".join(wording.stop(layout, keep_login=False).lines)
    on = "\n".join(wording.stop(layout, keep_login=True).lines)
    assert "userData.json" in off and "browser login" in off and "keep_login = true" in off
    assert str(paths.node_state_dir(layout.root) / "backups") in on and "puts them back" in on


def test_quit_offers_leaving_only_when_the_node_can_survive():
    layout = StillLayout()
    assert "cannot keep running" in wording.quit_running(layout, False, can_leave_running=False).lines[0]
    attached = wording.quit_running(layout, False, can_leave_running=True).lines
    assert "detach and it keeps running" in attached[0] and "swarmtui stop" in attached[-1]


def test_formatters():
    assert fmt.duration(59) == "59s" and fmt.duration(61) == "1m 01s" and fmt.duration(1800) == "30m"
    assert fmt.duration(3725) == "1h 02m" and fmt.duration(200000) == "2d 07h"
    assert fmt.size(4 * 1024 * 1024) == "4.0M" and fmt.size(900) == "900B"
    assert fmt.source_tag("pty") == "term    "
    assert fmt.source_tag("logs/swarm_launcher.log").strip() == "launcher"
    assert fmt.source_tag("logs/yarn.log").strip() == "yarn"
    assert fmt.ssh_tunnel_command(3111, "gpu", "op") == "ssh -L 3111:localhost:3111 op@gpu"
    assert fmt.parse_ts("2025-11-26T14:30:00.000Z").hour == 14
    assert fmt.parse_ts("garbage") is None


def test_restart_says_whether_a_reward_submission_is_pending():
    layout = StillLayout()
    pending = "\n".join(wording.restart(layout, False, uptime_s=3600.0, rounds_this_run=4).lines)
    assert "A submission is pending: 4 round(s) finished" in pending and "throws that batch away" in pending
    none = "\n".join(wording.restart(layout, False, uptime_s=3600.0, rounds_this_run=0).lines)
    assert "No submission is pending" in none and "throws" not in none
    unknown = "\n".join(wording.restart(layout, True, uptime_s=None, rounds_this_run=None).lines)
    assert "cannot be told" in unknown and "up to 3 h of batched rewards" in unknown
    # how it stops (the same sequence as s) and what happens to the login files
    assert "SIGINT" in pending and "browser login" in pending and "puts them back" in unknown
