"""Every panel action by name in the command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, app action). The same actions the keys run, so both paths are tested alike.
ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Restart the node now", "Stop and start again; recorded with reason 'manual'", "restart"),
    ("Stop or start the node", "Stop (asks first) or start a stopped node", "stop_start"),
    ("Log out", "Back up, then remove the login files (asks first)", "logout"),
    ("Reset identity", "Move swarm.pem to a backup; a new peer id on next start (asks first)", "reset_identity"),
    ("Restore a backup", "Backups of swarm.pem and the login files; put one back (asks first)", "restore_backup"),
    ("Copy", "Copy what the focused pane holds", "copy"),
    ("Copy peer id", "Copy the node's peer id", "copy_peer_id"),
    ("Copy ssh tunnel command", "Copy the ssh -L command for the browser login", "copy_ssh"),
    ("Search the log", "Find text in the log; n / N for next / previous", "search"),
    ("Filter the log", "Show only lines containing some text", "filter"),
    ("Clear the log filter", "Show every line again", "clear_filter"),
    ("Follow the log tail", "Jump to the newest line and keep following", "follow_log"),
    ("Answer the node's question", "Type the answer to a prompt no rule knows", "answer_prompt"),
    ("Next pane", "Move to the next pane", "next_pane"),
    ("Help", "Keys, panes, clipboard", "help"),
    ("Quit", "Quit the panel (asks first while the node runs)", "quit_panel"),
)


class PanelCommands(Provider):
    async def discover(self) -> Hits:
        for title, help_text, action in ACTIONS:
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), help=help_text)

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)
