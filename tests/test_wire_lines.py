"""Log lines in columns on the keeper's socket (engine.wire_lines): every field survives, a
malformed message is refused, and only a viewer that asks gets them (a real KeeperServer on a
real socket; the panel's side is the real RemoteEngine)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from swarmtui.engine import events as ev
from swarmtui.engine import wire, wire_lines
from swarmtui.engine.keeper_server import Fanout, KeeperServer
from swarmtui.engine.remote import RemoteEngine
from swarmtui.engine.replay import ReplayCache
from swarmtui.sim import create_checkout
from test_sim_support import free_port


def a_batch() -> ev.LinesOut:
    lines = [ev.LogLine("logs/swarm_launcher.log", n, f"[2025-11-26 14:00:00,{n:03d}][genrl][INFO] - step {n}",
                        level="INFO") for n in range(7, 12)]
    lines += [
        ev.LogLine("pty", 3, "Traceback (most recent call last):", detection="genrl-exception"),
        ev.LogLine("pty", 4, "  x" * 10, level="ERROR", truncated=1234),
        ev.LogLine("pty", 9, "ünïcode ✓ \\ \"quoted\"", level="WARNING"),          # a gap in the numbers
        ev.LogLine("logs/swarm_launcher.log", 12, "tail of the file again", level="INFO"),
        ev.LogLine("pty", 10, "Map:  50%|█████     | 5/10", bar="Map"),
        ev.LogLine("pty", 11, "", bar=""),
    ]
    return ev.LinesOut(lines=lines, partial="Map:  60%|██████    | 6/10", ts="2026-12-06T16:00:00.000Z")


def test_every_field_of_every_line_survives_the_columns_and_they_are_smaller():
    batch = a_batch()
    data = wire.encode("lines", **wire_lines.encode(batch))
    msg = wire.decode(data)
    assert msg["t"] == "lines"
    back = wire_lines.decode(msg)
    assert back.lines == batch.lines and back.partial == batch.partial and back.ts == batch.ts
    assert len(msg["runs"]) == 5            # consecutive lines of a source are one run (7-11; pty 10-11)
    assert len(data) < len(wire.encode("event", e=batch.to_dict()))
    empty = wire_lines.decode(wire.decode(wire.encode("lines", **wire_lines.encode(ev.LinesOut()))))
    assert empty.lines == [] and empty.partial == ""


@pytest.mark.parametrize("spoil", [
    lambda m: m["text"].pop(),                      # a text short
    lambda m: m["runs"][0].__setitem__(2, 99),      # a run longer than the texts
    lambda m: m.pop("lv"),
    lambda m: m["lv"].__setitem__(0, 42),           # a level out of its table
    lambda m: m.__setitem__("runs", "nonsense"),
    lambda m: m["x"].append([999, None, 0, None]),  # an extra for a line that is not there
])
def test_a_malformed_lines_message_is_a_value_error(spoil):
    msg = json.loads(wire.encode("lines", **wire_lines.encode(a_batch())))
    spoil(msg)
    with pytest.raises(ValueError):
        wire_lines.decode(msg)


async def _messages(sock: socket.socket, until, timeout: float = 10.0) -> list[dict]:
    """What a raw viewer reads until `until(msg)` holds for one message."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    out, buf = [], b""
    end = loop.time() + timeout
    while loop.time() < end:
        try:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), end - loop.time())
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            out.append(wire.decode(line))
            if until(out[-1]):
                return out
    raise AssertionError(f"never saw it: {[m['t'] for m in out]}")


async def test_only_a_viewer_that_asks_gets_columns_and_the_panel_sees_the_same_lines(tmp_path):
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", port=free_port(), login="present")
    fanout = Fanout(lambda e: None, ReplayCache())
    server = KeeperServer(root, fanout, send=lambda cmd: None, stop=lambda why: None, kind="test",
                          state=lambda: {"state": ev.RUNNING})
    await server.start()
    got: list[ev.Event] = []
    panel = RemoteEngine(root, got.append)
    old = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)       # a viewer from before the columns
    asks = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await panel.start()
        assert panel.keeper["features"] == [wire.LINES_COLUMNS]
        old.connect(str(server.path))
        old.sendall(wire.hello("old") + wire.encode("attach"))
        asks.connect(str(server.path))
        asks.sendall(wire.hello("asks", features=("lines-columns", "something-newer")) + wire.encode("attach"))
        for _ in range(100):
            if len(fanout.viewers) == 3:
                break
            await asyncio.sleep(0.05)
        assert len(fanout.viewers) == 3
        batch = a_batch()
        fanout.emit(batch)
        fanout.emit(ev.Notice(level="info", text="after the lines"))

        plain = await _messages(old, lambda m: m["t"] == "event" and m["e"]["event"] == "notice")
        assert plain[0]["t"] == "hello" and plain[0]["features"] == []
        assert "lines" not in [m["t"] for m in plain]
        carried = [ev.Event.from_dict(m["e"]) for m in plain if m["t"] == "event" and m["e"]["event"] == "lines"]
        assert [ln for e in carried for ln in e.lines] == batch.lines

        columns = await _messages(asks, lambda m: m["t"] == "event" and m["e"]["event"] == "notice")
        assert columns[0]["features"] == [wire.LINES_COLUMNS]
        assert not [m for m in columns if m["t"] == "event" and m["e"]["event"] == "lines"]
        assert [wire_lines.decode(m).lines for m in columns if m["t"] == "lines"] == [batch.lines]

        for _ in range(100):
            if any(isinstance(e, ev.Notice) and e.text == "after the lines" for e in got):
                break
            await asyncio.sleep(0.05)
        shown = [e for e in got if isinstance(e, ev.LinesOut)]
        assert [ln for e in shown for ln in e.lines] == batch.lines
        assert shown[-1].partial == batch.partial and shown[-1].ts == batch.ts
    finally:
        old.close()
        asks.close()
        await panel.close()
        await server.close()


async def test_a_panel_reads_the_lines_of_a_keeper_that_knows_no_columns(tmp_path):
    """A keeper from before the columns ignores the hello's features and sends events."""
    root = create_checkout(tmp_path / "node", "codezero", scenario="healthy", port=free_port(), login="present")
    path = wire.socket_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = a_batch()

    async def older_keeper(reader, writer):
        await reader.readline()
        writer.write(wire.encode("hello", protocol=wire.PROTOCOL, version="0.9", pid=1, checkout=str(root)))
        await reader.readline()                     # attach
        writer.write(wire.encode("snapshot", events=[]) + wire.encode("event", e=batch.to_dict()))
        await writer.drain()
        await reader.read()

    server = await asyncio.start_unix_server(older_keeper, path=str(path))
    got: list[ev.Event] = []
    panel = RemoteEngine(root, got.append)
    try:
        await panel.start()
        for _ in range(100):
            if any(isinstance(e, ev.LinesOut) for e in got):
                break
            await asyncio.sleep(0.05)
        assert [e.lines for e in got if isinstance(e, ev.LinesOut)] == [batch.lines]
    finally:
        await panel.close()
        server.close()
        path.unlink()
