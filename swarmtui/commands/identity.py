"""`swarmtui identity [NODE_DIR] [--json]`: peer id, animal name and login state, offline."""

from __future__ import annotations

import sys

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize, terminal_json


def run(args) -> int:
    from swarmtui.node.identity import identity_report
    from swarmtui.node.layout import inspect_checkout

    more = list(getattr(args, "more", None) or [])
    if args.node_dir == "restore":
        return restore(args, more)
    if more:
        raise UserError(f"unexpected argument {more[0]!r} (did you mean `swarmtui identity restore`?)")
    layout = inspect_checkout(args.node_dir)  # NotACheckout is a UserError: one line, exit 2
    report = identity_report(layout)
    if args.json:
        sys.stdout.write(terminal_json(report.to_dict()) + "\n")
    else:
        sys.stdout.write(format_human(report, layout.era_label))
    return 0


def format_human(report, era_label: str) -> str:
    rows: list[tuple[str, str]] = [("node", f"{report.root}  ({era_label})")]
    pem = f"{report.pem_path}  {report.pem_state}"
    if report.pem_mode:
        pem += f", mode {report.pem_mode}"
    rows.append(("swarm.pem", pem))
    rows.append(("peer id", report.peer_id or "unknown"))
    if report.animal_name:
        rows.append(("name", report.animal_name))
    elif report.peer_id:
        rows.append(("name", "unknown (no word lists in this checkout)"))
    lg = report.login
    if lg.user_data:
        parts = [f"org {lg.org_id or '?'}", f"EOA {lg.address or '?'}"]
        if lg.email:
            parts.append(lg.email)
        rows.append(("login", "userData.json: " + ", ".join(parts)))
    else:
        rows.append(("login", "userData.json: not there (not logged in)"))
    if lg.api_key:
        if lg.keys is None:
            rows.append(("", "userApiKey.json: unreadable"))
        else:
            state = "activated" if lg.activated else "not activated"
            created = f", created {lg.created_at}" if lg.created_at else ""
            rows.append(("", f"userApiKey.json: {lg.keys} key{'s' if lg.keys != 1 else ''}, latest {state}{created}"))
    else:
        rows.append(("", "userApiKey.json: not there"))
    if report.backups:
        rows.append(("backups", ", ".join(b["path"] for b in report.backups[:4]) + ("…" if len(report.backups) > 4 else "")))
    if not report.problems:
        rows.append(("problems", "none"))
    for i, p in enumerate(report.problems):
        rows.append(("problems" if i == 0 else "", f"{p.code}: {p.message}"))
        rows.append(("", f"  fix: {p.fix}"))
    # Every value can come from a file someone else wrote (userData.json's email, a path): each
    # row is cleaned on its own, so a newline in a field cannot forge a row either.
    return "\n".join(f"{k:<10} {sanitize(v)}".rstrip() for k, v in rows) + "\n"


def restore(args, more: list[str]) -> int:
    """`identity restore [NODE_DIR] [BACKUP]`: without BACKUP, the numbered list; with it, that
    backup put back (the current file backed up first), asked first unless --yes. Refused, with
    nothing changed, while a swarmtui keeps the node or a p2pd runs with this swarm.pem."""
    from swarmtui.engine import identity_actions as ia
    from swarmtui.node.layout import inspect_checkout

    if len(more) > 2:
        raise UserError(f"unexpected argument {more[2]!r}: identity restore [NODE_DIR] [BACKUP]")
    layout = inspect_checkout(more[0] if more else ".")
    backups = ia.list_restorable(layout)
    if len(more) < 2:
        if args.json:
            sys.stdout.write(terminal_json([b.to_dict() for b in backups]) + "\n")
            return 0
        if not backups:
            sys.stdout.write(sanitize(f"no backups of {layout.identity_path.name} or the login files for "
                                      f"{layout.root} (swarmtui keeps them in {ia.backups_dir(layout)})") + "\n")
            return 0
        sys.stdout.write(sanitize(f"backups of {layout.root} in {ia.backups_dir(layout)}, newest first:") + "\n")
        sys.stdout.write(format_backups(backups))
        sys.stdout.write(sanitize(f"restore one: swarmtui identity restore {layout.root} NUMBER") + "\n")
        return 0
    try:
        backup = ia.find_backup(layout, more[1])
        with ia.no_keeper(layout):
            why = ia.restore_refusal(layout, node_running=False)
            if why:
                raise ia.RestoreRefused(why)
            if not args.yes:
                _confirm(layout, backup)
            restored, safety = ia.restore_backup(layout, backup)
    except ia.RestoreRefused as exc:
        raise UserError(f"not restored: {exc}", exit_code=1) from None
    for path in restored:
        sys.stdout.write(sanitize(f"restored {path}") + "\n")
    for path in safety:
        sys.stdout.write(sanitize(f"the file that was there is kept in {path} (0600)") + "\n")
    if backup.peer_id:
        sys.stdout.write(sanitize(f"the node starts as {backup.detail} next time") + "\n")
    return 0


def _confirm(layout, backup) -> None:
    also = f" (and {backup.partner.name}, the other login file made with it)" if backup.partner else ""
    question = (f"Put {backup.path.name} back as {backup.target}{also} in {layout.root}? "
                "The current file is backed up first. [y/N] ")
    if not sys.stdin.isatty():
        raise UserError("not restored: no terminal to ask on; add --yes to restore without asking", exit_code=1)
    sys.stdout.write(sanitize(question))
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise UserError("not restored: not confirmed", exit_code=1)


def format_backups(backups) -> str:
    rows = []
    for i, b in enumerate(backups, 1):
        when = b.time.astimezone().strftime("%Y-%m-%d %H:%M:%S") if b.time else "?"
        pair = " (restored together with the other login file made with it)" if b.partner else ""
        rows.append(f"{i:>3}  {when}  {b.target:<16} {b.detail}{pair}")
        rows.append(f"{'':>3}  {b.path.name}")
    return "\n".join(sanitize(r) for r in rows) + "\n"
