"""A stand-in for Docker, for the tests of the Docker way (real Docker cannot run here).

Two programs, as with the real thing:

* the daemon (`python -m swarmtui.sim.docker daemon --socket S --state DIR`), started apart from
  swarmtui the way systemd starts dockerd: the containers are its children, never descendants of
  the client swarmtui launches, and they carry none of swarmtui's environment;
* the client, `docker` / `docker-compose` executables written into a folder by write_cli() and
  found on PATH; they talk to the daemon over the unix socket named by DOCKER_HOST.

What a container is here: a copy of the checkout as rl-swarm's image holds it (swarm.containerfile
does `COPY . /home/gensyn/rl_swarm`; .dockerignore leaves out user/), its volumes as in rl-swarm's
docker-compose.yaml (v0.5.0 ... main) made with symlinks (temp-data, keys, configs and logs go to
./user/modal-login, ./user/keys, ./user/configs, ./user/logs of the checkout), the image's
environment (DOCKER=t, IDENTITY_PATH=<container>/keys/swarm.pem; none of the host's), and the
image's command `bash -c <container>/run_rl_swarm.sh` on a terminal of its own (-t). The sim's
venv plays the image's Python.

The subcommands swarmtui uses behave like the real CLI's:
  docker compose run [--rm] [--build] [-P] [-i] [-t] [--name N] [-l|--label K=V] [-e K=V] SERVICE
  docker-compose run ... (the same)
  docker stop [-t|--time N] NAME...      SIGTERM to the container's main process, SIGKILL after N s
  docker kill [-s|--signal SIG] NAME...
  docker ps [-a] [-q] [--filter label=K=V|name=N] [--format '{{.Names}}']
With -t the client puts its terminal in raw mode and passes every byte on: a Ctrl-C typed into
it reaches the container's terminal, whose foreground group gets SIGINT. A client that is killed
or loses its terminal leaves its container running (what docker/cli #3138 and docker/compose #4909
report). `--rm`: the daemon removes the container once its main process has exited. When the
main process exits, every other process of the container is killed, as the end of a PID
namespace does; and like PID 1 in a container, the main process never gets a signal from
`docker stop`/`docker kill` that it has no handler for (bash running run_rl_swarm.sh has none
for SIGTERM: `docker stop` then waits its time and kills).

Not modelled: images and builds (`--build` only marks the login app as built, as the image's
`yarn build` does), networks and published ports (the login server binds the host's port
itself), the PID namespace (container processes are visible with their host pids), and the
ollama service that v0.7's compose file starts beside the node.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import socket
import socketserver
import struct
import sys
import termios
import threading
import time
import tty
from pathlib import Path

CONTAINER_ENV = "SWARMTUI_SIM_CONTAINER"    # the stand-in's cgroup: which container a process is in
IMAGE_HOME = "/home/gensyn"
# docker-compose.yaml, services swarm-cpu and swarm-gpu (v0.5.0 ... main): host -> container.
VOLUMES = (("user/modal-login", "modal-login/temp-data"), ("user/keys", "keys"),
           ("user/configs", "configs"), ("user/logs", "logs"))
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
# .dockerignore (main): user, genrl-swarm/, configs/, node_modules and dot-files; and what a
# container gets from its volumes or makes itself.
_IGNORED_TOP = {"user", "genrl-swarm", "configs", "logs", "swarm.pem", ".git", ".venv", "venv", "runs",
                ".swarmtui-sim-state.json"}

_OUT, _EXIT, _IN, _SIZE = b"o", b"x", b"i", b"w"


def _frame(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack(">I", len(data)) + data


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv_frame(sock: socket.socket) -> tuple[bytes, bytes] | None:
    head = _recv_exact(sock, 5)
    if head is None:
        return None
    kind, size = head[:1], struct.unpack(">I", head[1:])[0]
    data = _recv_exact(sock, size) if size else b""
    return None if data is None else (kind, data)


def _recv_line(sock: socket.socket) -> bytes | None:
    buf = b""
    while not buf.endswith(b"\n"):
        c = _recv_exact(sock, 1)
        if c is None:
            return None
        buf += c
        if len(buf) > 1 << 20:
            return None
    return buf


# ============================================================================ the daemon


def _caught(pid: int) -> int:
    """The signals a process has a handler for (SigCgt), as a bit mask."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return 0


def _members(box_id: str) -> list[int]:
    """The processes of one container (the stand-in's cgroup is an environment variable)."""
    needle = f"{CONTAINER_ENV}={box_id}".encode() + b"\0"
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if needle in fh.read() + b"\0":
                    out.append(int(name))
        except OSError:
            continue
    return out


class Box:
    def __init__(self, box_id: str, name: str, labels: dict, rm: bool, root: Path, service: str, project: str):
        self.id, self.name, self.labels, self.rm = box_id, name, labels, rm
        self.root, self.service, self.project = root, service, project
        self.pid = 0
        self.master = -1
        self.code: int | None = None
        self.conn: socket.socket | None = None
        self.lock = threading.Lock()
        self.done = threading.Event()

    def deliver(self, sig: int) -> None:
        """A signal from `docker stop`/`docker kill` to the main process, which as PID 1 of its
        namespace ignores what it has no handler for (SIGKILL excepted: the daemon's own)."""
        if self.code is not None:
            return
        if sig != signal.SIGKILL and not (_caught(self.pid) >> (sig - 1)) & 1:
            return
        try:
            os.kill(self.pid, sig)
        except OSError:
            pass

    def kill_all(self) -> None:
        for pid in _members(self.id):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Daemon:
    def __init__(self, state: Path):
        self.state = state
        self.boxes: dict[str, Box] = {}
        self.lock = threading.Lock()

    # -------------------------------------------------------------- requests

    def handle(self, conn: socket.socket) -> None:
        line = _recv_line(conn)
        if line is None:
            return
        try:
            req = json.loads(line)
        except ValueError:
            self._reply(conn, 1, "Error response from daemon: bad request\n")
            return
        cmd = req.get("cmd")
        if cmd == "run":
            self.run(conn, req)
        elif cmd == "stop":
            self.stop(conn, req)
        elif cmd == "kill":
            self.kill(conn, req)
        elif cmd == "ps":
            self.ps(conn, req)
        else:
            self._reply(conn, 1, f"Error response from daemon: unknown request {cmd!r}\n")

    @staticmethod
    def _reply(conn: socket.socket, code: int, out: str = "", **extra) -> None:
        try:
            conn.sendall((json.dumps({"code": code, "out": out, **extra}) + "\n").encode())
        except OSError:
            pass

    def _find(self, ref: str) -> Box | None:
        with self.lock:
            for box in self.boxes.values():
                if ref in (box.name, box.id) or (len(ref) >= 4 and box.id.startswith(ref)):
                    return box
        return None

    def stop(self, conn: socket.socket, req: dict) -> None:
        wait = float(req.get("time", 10))
        out, code = "", 0
        for ref in req.get("names", []):
            box = self._find(ref)
            if box is None:
                out += f"Error response from daemon: No such container: {ref}\n"
                code = 1
                continue
            box.deliver(signal.SIGTERM)
            if not box.done.wait(wait):
                box.kill_all()
                box.done.wait(10)
            out += f"{ref}\n"
        self._reply(conn, code, out)

    def kill(self, conn: socket.socket, req: dict) -> None:
        sig = req.get("signal") or "KILL"
        name = sig.upper() if sig.upper().startswith("SIG") else "SIG" + sig.upper()
        try:
            num = int(sig) if sig.isdigit() else int(getattr(signal, name))
        except (AttributeError, ValueError):
            self._reply(conn, 1, f"Error response from daemon: Invalid signal: {sig}\n")
            return
        out, code = "", 0
        for ref in req.get("names", []):
            box = self._find(ref)
            if box is None or box.code is not None:
                out += (f"Error response from daemon: No such container: {ref}\n" if box is None else
                        f"Error response from daemon: cannot kill container: {ref}: container {box.id} is not running\n")
                code = 1
                continue
            if num == signal.SIGKILL:
                box.kill_all()
            else:
                box.deliver(num)
            out += f"{ref}\n"
        self._reply(conn, code, out)

    def ps(self, conn: socket.socket, req: dict) -> None:
        rows = []
        with self.lock:
            boxes = list(self.boxes.values())
        for box in boxes:
            if box.code is not None and not req.get("all"):
                continue
            if all(self._matches(box, f) for f in req.get("filters", [])):
                rows.append(box)
        fmt = req.get("format")
        if req.get("quiet"):
            out = "".join(f"{b.id[:12]}\n" for b in rows)
        elif fmt:
            out = "".join(fmt.replace("{{.Names}}", b.name).replace("{{.ID}}", b.id[:12])
                          .replace("{{.Status}}", "Up" if b.code is None else f"Exited ({b.code})") + "\n"
                          for b in rows)
        else:
            out = "CONTAINER ID   COMMAND                  STATUS    NAMES\n" + "".join(
                f"{b.id[:12]}   \"bash -c /home/gensyn…\"   {'Up' if b.code is None else 'Exited'}   {b.name}\n"
                for b in rows)
        self._reply(conn, 0, out)

    @staticmethod
    def _matches(box: Box, flt: str) -> bool:
        key, _, value = flt.partition("=")
        if key == "label":
            k, eq, v = value.partition("=")
            return k in box.labels and (not eq or box.labels[k] == v)
        if key == "name":
            pattern = value
            try:
                return re.search(pattern, box.name) is not None
            except re.error:
                return pattern in box.name
        if key == "id":
            return box.id.startswith(value)
        return False

    # -------------------------------------------------------------- run

    def run(self, conn: socket.socket, req: dict) -> None:
        project = Path(req["project_dir"])
        service = req["service"]
        compose = next((project / n for n in COMPOSE_FILES if (project / n).is_file()), None)
        if compose is None:
            self._reply(conn, 1, "no configuration file provided: not found\n")
            return
        if not re.search(rf"(?m)^  {re.escape(service)}:\s*$", compose.read_text(errors="replace")):
            self._reply(conn, 1, f"no such service: {service}\n")
            return
        pname = re.sub(r"[^a-z0-9_-]", "", project.name.lower()) or "default"
        name = req.get("name") or f"{pname}-{service}-run-{secrets.token_hex(6)}"
        if self._find(name) is not None and self._find(name).name == name:
            other = self._find(name)
            self._reply(conn, 1, f"Error response from daemon: Conflict. The container name \"/{name}\" is already in "
                                 f"use by container \"{other.id}\". You have to remove (or rename) that container to "
                                 "be able to reuse that name.\n")
            return
        box_id = secrets.token_hex(32)
        root = self.state / "containers" / box_id / "rl_swarm"
        box = Box(box_id, name, dict(req.get("labels") or {}), bool(req.get("rm")), root, service, pname)
        try:
            self._make_root(project, root, built=True)
        except OSError as exc:
            self._reply(conn, 1, f"Error response from daemon: {exc}\n")
            return
        env = self._image_env(project, root, box_id, req)
        pid, master = pty.fork()
        if pid == 0:  # the container's main process: the image's CMD
            try:
                os.chdir(root)
                os.execve("/bin/bash", ["bash", "-c", str(root / "run_rl_swarm.sh")], env)
            finally:
                os._exit(127)
        cols, rows = int(req.get("cols") or 80), int(req.get("rows") or 24)
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        except OSError:
            pass
        box.pid, box.master, box.conn = pid, master, conn
        with self.lock:
            self.boxes[box_id] = box
        self._reply(conn, 0, "", id=box_id, name=name)
        threading.Thread(target=self._input, args=(box, conn), daemon=True).start()
        self._output(box)       # this request's thread follows the container to its end

    def _make_root(self, project: Path, root: Path, built: bool) -> None:
        root.mkdir(parents=True)

        def ignore(folder: str, names: list[str]) -> set[str]:
            if Path(folder) == project:
                return {n for n in names if n in _IGNORED_TOP}
            return {n for n in names if n in ("__pycache__", ".next")} | (
                {"temp-data"} if Path(folder) == project / "modal-login" else set())

        for entry in sorted(project.iterdir()):
            if entry.name in ignore(str(project), [entry.name]):
                continue
            dest = root / entry.name
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, dest, symlinks=True, ignore=ignore)
            else:
                shutil.copy2(entry, dest, follow_symlinks=False)
        sim_cfg = root / ".swarmtui-sim.json"
        if sim_cfg.is_file():   # the simulated node's run counter stays with the checkout
            data = json.loads(sim_cfg.read_text())
            data["state_dir"] = str(project)
            sim_cfg.write_text(json.dumps(data, indent=2) + "\n")
        for host, inside in VOLUMES:   # docker makes a missing host folder of a bind mount
            (project / host).mkdir(parents=True, exist_ok=True)
            target = root / inside
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            target.symlink_to(project / host)
        if built:               # the image ran `yarn install --immutable && yarn build`
            (root / "modal-login" / ".next").mkdir(parents=True, exist_ok=True)
            (root / "modal-login" / ".next" / "BUILD_ID").write_text(f"{int(time.time())}\n")

    @staticmethod
    def _image_env(project: Path, root: Path, box_id: str, req: dict) -> dict:
        python_bin = next((project / v / "bin" for v in (".venv", "venv") if (project / v / "bin" / "python").exists()),
                          None)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        env = {"PATH": f"{python_bin}:{path}" if python_bin else path, "HOME": IMAGE_HOME, "TERM": "xterm",
               "HOSTNAME": box_id[:12], "DEBIAN_FRONTEND": "noninteractive", "TZ": "Etc/UTC",
               "DOCKER": "t", "IDENTITY_PATH": str(root / "keys" / "swarm.pem"), CONTAINER_ENV: box_id}
        # docker-compose.yaml's environment: HF_TOKEN=${HF_TOKEN}, GENSYN_RESET_CONFIG=${...}
        # (interpolated from the client's environment, empty when unset); v0.7 adds OLLAMA_HOST.
        for key, value in (req.get("env") or {}).items():
            env[str(key)] = str(value)
        return env

    def _input(self, box: Box, conn: socket.socket) -> None:
        while True:
            fr = _recv_frame(conn)
            if fr is None:
                break
            kind, data = fr
            if kind == _IN and box.code is None:
                try:
                    os.write(box.master, data)
                except OSError:
                    break
            elif kind == _SIZE:
                try:
                    size = json.loads(data)
                    fcntl.ioctl(box.master, termios.TIOCSWINSZ, struct.pack("HHHH", size["rows"], size["cols"], 0, 0))
                except (OSError, ValueError, KeyError, TypeError):
                    pass
        with box.lock:          # the client went away: the container runs on, detached
            if box.conn is conn:
                box.conn = None

    def _output(self, box: Box) -> None:
        while True:
            try:
                data = os.read(box.master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            with box.lock:
                conn = box.conn
            if conn is not None:
                try:
                    conn.sendall(_frame(_OUT, data))
                except OSError:
                    with box.lock:
                        box.conn = None
        _, status = os.waitpid(box.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        box.code = 128 - code if code < 0 else code
        box.kill_all()          # the namespace's init is gone: so is everything in it
        for _ in range(100):
            if not _members(box.id):
                break
            time.sleep(0.05)
        try:
            os.close(box.master)
        except OSError:
            pass
        with box.lock:
            conn, box.conn = box.conn, None
        if conn is not None:
            try:
                conn.sendall(_frame(_EXIT, str(box.code).encode()))
            except OSError:
                pass
        if box.rm:
            with self.lock:
                self.boxes.pop(box.id, None)
            shutil.rmtree(box.root.parent, ignore_errors=True)
        box.done.set()

    def shutdown(self) -> None:
        with self.lock:
            boxes = list(self.boxes.values())
        for box in boxes:
            box.kill_all()
        for box in boxes:
            box.done.wait(5)


def daemon_main(socket_path: str, state: str) -> None:
    daemon = Daemon(Path(state))
    Path(state).mkdir(parents=True, exist_ok=True)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            daemon.handle(self.request)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = Server(socket_path, Handler)

    def on_term(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        daemon.shutdown()
        server.server_close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass


# ============================================================================ the client


DEFAULT_HOST = "unix:///var/run/docker.sock"


class _Usage(Exception):
    pass


def _connect() -> socket.socket:
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    path = host[len("unix://"):] if host.startswith("unix://") else ""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not path:
            raise OSError
        sock.connect(path)
    except OSError:
        sock.close()
        sys.stderr.write(f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?\n")
        sys.exit(1)
    return sock


def _request(req: dict) -> int:
    sock = _connect()
    with sock:
        sock.sendall((json.dumps(req) + "\n").encode())
        line = _recv_line(sock)
    if line is None:
        sys.stderr.write("error during connect: EOF\n")
        return 1
    reply = json.loads(line)
    out = reply.get("out", "")
    (sys.stdout if reply.get("code") == 0 else sys.stderr).write(out)
    return int(reply.get("code", 1))


_RUN_VALUE = {"--name", "-e", "--env", "-l", "--label", "-u", "--user", "-v", "--volume", "-w", "--workdir",
              "--entrypoint", "-p", "--publish", "--pull", "--env-from-file", "--cap-add", "--cap-drop"}
_RUN_FLAGS = set("dPiTt")


def _parse_run(args: list[str]) -> dict:
    req: dict = {"labels": {}, "env": {}, "rm": False, "tty": True}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-"):
            break
        key, eq, val = a.partition("=")
        if key in _RUN_VALUE and not eq:
            if i + 1 >= len(args):
                raise _Usage(f"flag needs an argument: {a}")
            val = args[i + 1]
            i += 1
        if key == "--name":
            req["name"] = val
        elif key in ("-l", "--label"):
            k, _, v = val.partition("=")
            req["labels"][k] = v
        elif key in ("-e", "--env"):
            k, e, v = val.partition("=")
            req["env"][k] = v if e else os.environ.get(k, "")
        elif key == "--rm":
            req["rm"] = True
        elif key in ("--build", "--service-ports", "--no-deps", "--quiet-pull", "--remove-orphans", "--interactive",
                     "--tty", "--use-aliases"):
            pass
        elif key in ("-T", "--no-TTY"):
            req["tty"] = False
        elif key in _RUN_VALUE:
            pass
        elif key.startswith("-") and not key.startswith("--") and set(key[1:]) <= _RUN_FLAGS:
            if "T" in key:
                req["tty"] = False
        else:
            raise _Usage(f"unknown flag: {key}")
        i += 1
    if i >= len(args):
        raise _Usage('"docker compose run" requires at least 1 argument.')
    req["service"] = args[i]
    req["command"] = args[i + 1:]
    return req


def _compose_run(args: list[str]) -> int:
    req = _parse_run(args)
    req["cmd"] = "run"
    req["project_dir"] = os.getcwd()
    # docker-compose.yaml passes HF_TOKEN and GENSYN_RESET_CONFIG (v0.7: OLLAMA_HOST too).
    for key in ("HF_TOKEN", "GENSYN_RESET_CONFIG"):
        req["env"].setdefault(key, os.environ.get(key, ""))
    compose = Path("docker-compose.yaml")
    if compose.is_file() and "OLLAMA_HOST" in compose.read_text(errors="replace"):
        req["env"].setdefault("OLLAMA_HOST", "http://ollama:11434")
    fd = sys.stdin.fileno()
    is_tty = os.isatty(fd)
    if is_tty:
        try:
            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
            req["cols"], req["rows"] = cols, rows
        except OSError:
            pass
    sock = _connect()
    sock.sendall((json.dumps(req) + "\n").encode())
    line = _recv_line(sock)
    if line is None:
        sys.stderr.write("error during connect: EOF\n")
        return 1
    reply = json.loads(line)
    if reply.get("code") != 0:
        sys.stderr.write(reply.get("out", ""))
        return int(reply.get("code", 1))
    saved = None
    if is_tty and req.get("tty"):
        saved = termios.tcgetattr(fd)
        tty.setraw(fd)          # every byte (Ctrl-C too) goes to the container's terminal

    def leave(signum, frame):   # the container runs on: only this client goes
        if saved is not None:
            try:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
            except termios.error:
                pass
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, leave)
    code = 0
    try:
        stdin_open = True
        while True:
            watch = [sock] + ([fd] if stdin_open else [])
            ready, _, _ = select.select(watch, [], [])
            if fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if data:
                    sock.sendall(_frame(_IN, data))
                else:
                    stdin_open = False
            if sock in ready:
                fr = _recv_frame(sock)
                if fr is None:
                    code = 1
                    break
                kind, data = fr
                if kind == _OUT:
                    os.write(sys.stdout.fileno(), data)
                elif kind == _EXIT:
                    code = int(data or b"0")
                    break
    finally:
        if saved is not None:
            try:
                termios.tcsetattr(fd, termios.TCSANOW, saved)
            except termios.error:
                pass
        sock.close()
    return code


def _compose(args: list[str]) -> int:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-f", "--file", "-p", "--project-name", "--profile", "--env-file",
                              "--project-directory", "--ansi", "--progress") else 1
    if i >= len(args):
        raise _Usage("Usage:  docker compose [OPTIONS] COMMAND")
    if args[i] != "run":
        raise _Usage(f"unknown docker command: \"compose {args[i]}\" (the stand-in plays only `run`)")
    return _compose_run(args[i + 1:])


def _names_and(args: list[str], value_opts: set[str]) -> tuple[dict, list[str]]:
    opts, names, i = {}, [], 0
    while i < len(args):
        key, eq, val = args[i].partition("=")
        if key in value_opts:
            if not eq:
                i += 1
                val = args[i] if i < len(args) else ""
            opts[key] = val
        elif key.startswith("-"):
            raise _Usage(f"unknown flag: {key}")
        else:
            names.append(args[i])
        i += 1
    return opts, names


def client_main(argv: list[str] | None = None, prog: str = "docker") -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if prog == "docker-compose":
            return _compose(args)
        while args and args[0] in ("-H", "--host", "--context", "-c", "-l", "--log-level"):
            if args[0] in ("-H", "--host"):
                os.environ["DOCKER_HOST"] = args[1]
            args = args[2:]
        if not args:
            raise _Usage("Usage:  docker [OPTIONS] COMMAND")
        cmd, rest = args[0], args[1:]
        if cmd == "compose":
            return _compose(rest)
        if cmd == "stop":
            opts, names = _names_and(rest, {"-t", "--time", "--timeout", "-s", "--signal"})
            if not names:
                raise _Usage('"docker stop" requires at least 1 argument.')
            t = opts.get("-t") or opts.get("--time") or opts.get("--timeout") or "10"
            return _request({"cmd": "stop", "names": names, "time": float(t)})
        if cmd == "kill":
            opts, names = _names_and(rest, {"-s", "--signal"})
            if not names:
                raise _Usage('"docker kill" requires at least 1 argument.')
            return _request({"cmd": "kill", "names": names, "signal": opts.get("-s") or opts.get("--signal") or "KILL"})
        if cmd == "ps":
            req = {"cmd": "ps", "filters": [], "all": False, "quiet": False}
            i = 0
            while i < len(rest):
                a = rest[i]
                if a in ("-a", "--all"):
                    req["all"] = True
                elif a in ("-q", "--quiet"):
                    req["quiet"] = True
                elif a in ("-f", "--filter", "--format"):
                    i += 1
                    if i >= len(rest):
                        raise _Usage(f"flag needs an argument: {a}")
                    if a == "--format":
                        req["format"] = rest[i]
                    else:
                        req["filters"].append(rest[i])
                elif a.startswith("--filter="):
                    req["filters"].append(a.split("=", 1)[1])
                elif a.startswith("--format="):
                    req["format"] = a.split("=", 1)[1]
                else:
                    raise _Usage(f"unknown flag: {a}")
                i += 1
            return _request(req)
        raise _Usage(f"docker: unknown command: docker {cmd} (the stand-in plays compose run, stop, kill, ps)")
    except _Usage as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except ValueError as exc:
        sys.stderr.write(f"invalid argument: {exc}\n")
        return 1


CLIENT_TEXT = """#!/bin/sh
# swarmtui sim: a stand-in for the {prog} CLI (see swarmtui/sim/docker.py); needs its daemon at DOCKER_HOST.
exec '{python}' -m swarmtui.sim.docker client --prog {prog} "$@"
"""


def write_cli(bin_dir: Path, python: str | None = None) -> Path:
    """`docker` and `docker-compose` stand-ins in bin_dir (put it first on PATH)."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    python = python or sys.executable
    if "'" in python:
        raise ValueError(f"cannot quote {python!r}")
    for prog in ("docker", "docker-compose"):
        path = bin_dir / prog
        if path.is_symlink():
            path.unlink()
        path.write_text(CLIENT_TEXT.format(prog=prog, python=python))
        path.chmod(0o755)
    return bin_dir / "docker"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["daemon"]:
        p = argparse.ArgumentParser(prog="swarmtui.sim.docker daemon")
        p.add_argument("--socket", required=True)
        p.add_argument("--state", required=True)
        ns = p.parse_args(args[1:])
        daemon_main(ns.socket, ns.state)
        return 0
    if args[:1] == ["client"]:
        prog = "docker"
        rest = args[1:]
        if rest[:1] == ["--prog"]:
            prog, rest = rest[1], rest[2:]
        return client_main(rest, prog=prog)
    sys.stderr.write("usage: python -m swarmtui.sim.docker daemon --socket PATH --state DIR | client ARGS\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
