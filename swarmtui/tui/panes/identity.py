"""Identity: peer id, animal name, swarm.pem, login files, problems; the login hint when needed."""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from swarmtui.node.text import sanitize
from swarmtui.tui.format import home_relative, ssh_tunnel_command

PEM_STYLE = {"ok": "$text-success", "missing": "$text-warning"}


def shown(value: Any) -> str:
    """A field as it may reach the screen: the report's strings come from files anyone with
    write access to the checkout wrote (userData.json's email, address and orgId)."""
    return sanitize(str(value))


class IdentityPane(VerticalScroll, can_focus=True):
    def __init__(self, *, login_port: int, host: str, user: str | None,
                 id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.login_port = login_port
        self.host = host
        self.user = user
        self.report: dict[str, Any] = {}
        self.login_url: str | None = None
        self.waiting_for = ""
        # The identity the running node started with: after a reset (or a restore) the files
        # say one thing and the node, until it restarts, another. None while nothing runs.
        self.running = False
        self.run_identity: tuple[str, str] | None = None
        self.backup_key = "b"

    def compose(self):
        yield Static("reading identity…", id="identity-body")

    def on_mount(self) -> None:
        self.border_title = "Identity"
        self._refresh_body()

    @property
    def peer_id(self) -> str | None:
        return self.report.get("peer_id") or None

    @property
    def ssh_command(self) -> str:
        return ssh_tunnel_command(self.login_port, self.host, self.user)

    def set_report(self, report: dict[str, Any]) -> None:
        self.report = dict(report)
        self._capture_run_identity()
        self._refresh_body()

    def set_running(self, running: bool, new_run: bool = False) -> None:
        """Whether a node runs, and whether a new run just began (it loads the files as they are now)."""
        if new_run or not running:
            self.run_identity = None
        changed = running != self.running
        self.running = running
        self._capture_run_identity()
        if changed or new_run:
            self._refresh_body()

    def _capture_run_identity(self) -> None:
        r = self.report
        if self.running and self.run_identity is None and r.get("pem_state") == "ok" and r.get("peer_id"):
            self.run_identity = (str(r.get("animal_name") or ""), str(r["peer_id"]))

    @property
    def running_as_old(self) -> bool:
        """The node runs with an identity the files no longer hold (reset or restored since)."""
        return bool(self.running and self.run_identity and self.run_identity[1] != self.report.get("peer_id"))

    def set_login(self, url: str | None, waiting_for: str = "") -> None:
        self.login_url = url
        self.waiting_for = waiting_for
        self._refresh_body()

    def _refresh_body(self) -> None:
        r = self.report
        rows: list[Content] = []
        if self.login_url:
            waiting = f" (waiting for {shown(self.waiting_for)})" if self.waiting_for else ""
            rows += [
                Content.assemble((" LOGIN REQUIRED ", "bold $background on $warning"), (waiting, "$text-warning")),
                Content.assemble(("1. on your laptop: ", "dim")),
                Content.assemble(("   " + shown(self.ssh_command), "bold $text-accent")),
                Content.assemble(("2. open ", "dim"), (shown(self.login_url), "bold underline"), (" and log in", "dim")),
                Content.styled("   (c copies the ssh command)", "dim"),
                Content(""),
            ]
        if self.running_as_old:
            old_name, old_peer = self.run_identity or ("", "")
            rows.append(Content.assemble(("running as ", "$text-warning"), (shown(old_name or "?"), "bold"),
                                         (" (reset takes effect on restart)", "$text-warning")))
            rows.append(Content.styled(shown(old_peer), "dim"))
            if r.get("peer_id"):
                rows.append(Content.assemble(("next start: ", "dim"), (shown(r.get("animal_name") or "?"), "bold")))
                rows.append(Content(shown(r["peer_id"])))
            elif r.get("pem_state") == "missing":
                rows.append(Content.styled("next start: a new identity (new peer id and name)", "dim"))
        else:
            missing = r.get("pem_state") == "missing"
            name = shown(r.get("animal_name") or ("(a new one on the next start)" if missing else "(no name yet)"))
            peer = shown(r.get("peer_id") or "(no peer id yet)")
            rows.append(Content.styled(name, "bold"))
            rows.append(Content(peer))
        pem_state = shown(r.get("pem_state") or "?")
        rows.append(Content.assemble(("pem  ", "dim"), (pem_state, PEM_STYLE.get(pem_state, "$text-error")),
                                     " ", (shown(home_relative(r.get("pem_path"))), "dim")))
        login = r.get("login") or {}
        if login:
            activated = login.get("activated")
            act = "key activated" if activated else ("key not activated" if activated is False else "")
            rows.append(Content.assemble(
                ("login ", "dim"),
                ("userData ✓ " if login.get("user_data") else "userData ✗ ", "" if login.get("user_data") else "$text-warning"),
                ("apiKey ✓ " if login.get("api_key") else "apiKey ✗ ", "" if login.get("api_key") else "$text-warning"),
                (act, "$text-success" if activated else "$text-warning")))
            if login.get("org_id"):
                rows.append(Content.assemble(("org  ", "dim"), shown(login["org_id"])))
            if login.get("address"):
                rows.append(Content.assemble(("EOA  ", "dim"), shown(login["address"])))
            if login.get("email"):
                rows.append(Content.assemble(("email ", "dim"), shown(login["email"])))
        restorable = r.get("restorable") or []
        if restorable:
            rows.append(Content.styled(f"{self.backup_key}: restore a backup ({len(restorable)})", "dim"))
        for problem in r.get("problems") or []:
            message = shown(problem.get("message", "") if isinstance(problem, dict) else problem)
            fix = shown(problem.get("fix", "") if isinstance(problem, dict) else "")
            rows.append(Content.assemble(("⚠ ", "$text-warning"), (message, "$text-warning")))
            if fix:
                rows.append(Content.assemble(("  ", ""), (fix, "dim")))
        self.query_one("#identity-body", Static).update(Content("\n").join(rows))
        self.border_title = "Identity" + (" · login required" if self.login_url else "")

    def copy_text(self) -> tuple[str, str] | None:
        """What `c` copies here: the ssh command while a login is needed, else the peer id."""
        if self.login_url:
            return "ssh tunnel command", self.ssh_command
        if self.peer_id:
            return "peer id", self.peer_id
        return None
