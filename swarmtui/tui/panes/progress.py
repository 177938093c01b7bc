"""Training progress: round/stage, step k/n with a bar, rate, ETA, rounds, rewards, the v0.6
Prediction Market, stall clock."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar, Sparkline, Static

from swarmtui.engine.events import ProgressUpdate
from swarmtui.node.progress import describe_market
from swarmtui.node.text import sanitize
from swarmtui.tui.format import duration, short

SPARK_POINTS = 40


class ProgressPane(Vertical):
    def __init__(self, stall_limit_s: float | None = None, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.stall_limit_s = stall_limit_s
        self.progress: ProgressUpdate | None = None
        self._since_base: float | None = None
        self._since_at = 0.0
        self._stall_shown: Content | None = None

    def compose(self) -> ComposeResult:
        yield Static("waiting for the node's first round…", id="prog-head")
        with Horizontal(id="prog-step-row"):
            yield Label("", id="prog-step")
            yield ProgressBar(total=100, show_eta=False, id="prog-bar")
            yield Label("", id="prog-rate")
        yield Static("", id="prog-stall")
        yield Static("", id="prog-rounds", classes="prog-more")
        yield Static("", id="prog-rewards", classes="prog-more")
        yield Static("", id="prog-market", classes="prog-more")
        with Horizontal(id="prog-spark-row", classes="prog-more"):
            yield Label("durations ", id="prog-spark-label")
            yield Sparkline([], id="prog-spark")

    def on_mount(self) -> None:
        self.border_title = "Training progress"
        self.query_one("#prog-step-row").display = False
        self.query_one("#prog-rewards").display = False
        self.query_one("#prog-market").display = False
        self.query_one("#prog-spark-row").display = False

    def set_progress(self, p: ProgressUpdate, now: float) -> None:
        self.progress = p
        self._since_base = p.since_progress_s
        self._since_at = now
        head = []
        if p.round is not None:
            head += [("Round ", "dim"), (str(p.round), "bold")]
            if p.stage is not None:
                head += [("  stage ", "dim"), (str(p.stage), "bold")]
        else:
            head += [("no round yet", "dim")]
        if p.era:
            head += [("   ", ""), (sanitize(p.era), "dim italic")]
        self.query_one("#prog-head", Static).update(Content.assemble(*head))

        row = self.query_one("#prog-step-row")
        if p.step is not None and p.total:
            row.display = True
            self.query_one("#prog-step", Label).update(f"step {p.step}/{p.total} ")
            bar = self.query_one("#prog-bar", ProgressBar)
            bar.update(total=p.total, progress=min(p.step, p.total))
            rate = " ".join(x for x in (p.rate or "", f"ETA {duration(p.eta_s)}" if p.eta_s is not None else "") if x)
            # Content, not str: a Label parses a str as markup, and the rate is read from node output.
            self.query_one("#prog-rate", Label).update(Content(" " + sanitize(rate) if rate else ""))
        else:
            row.display = False

        skipped = p.rounds_skipped or []
        rounds = [("done ", "dim"), (str(p.rounds_completed), "bold"), (" · skipped ", "dim"), (str(len(skipped)), "bold")]
        if skipped:
            rounds.append((" (" + short(", ".join(str(r) for r in skipped[-6:]), 30) + ")", "dim"))
        durations = p.round_durations or []
        if durations:
            rounds += [(" · last ", "dim"), (duration(durations[-1]), "")]
        self.query_one("#prog-rounds", Static).update(Content.assemble(*rounds))

        rewards = self.query_one("#prog-rewards", Static)
        if p.last_rewards:
            text = ", ".join(f"{k} {v:.3g}" for k, v in list(p.last_rewards.items())[:4])
            rewards.update(Content.assemble(("rewards ", "dim"), short(sanitize(text), 120)))   # keys: node output
            rewards.display = True
        else:
            rewards.display = False
        market = self.query_one("#prog-market", Static)
        where, totals = (sanitize(x) for x in describe_market(p.market))   # the choice: node output
        if where or totals:
            lines = [("market ", "dim"), where or totals]
            if where and totals:
                lines += [("\n       ", ""), (totals, "dim")]
            market.update(Content.assemble(*lines))
        market.display = bool(where or totals)
        self.query_one("#prog-spark", Sparkline).data = [float(d) for d in durations[-SPARK_POINTS:]]
        self.query_one("#prog-spark-row").display = bool(durations)
        self.tick(now)

    def since_progress(self, now: float) -> float | None:
        if self._since_base is None:
            return None
        return self._since_base + max(0.0, now - self._since_at)

    def tick(self, now: float) -> None:
        since = self.since_progress(now)
        limit = self.stall_limit_s
        if since is None:
            content = Content.styled("no progress seen yet", "dim")
        elif limit:
            ratio = since / limit
            style = "$text-success" if ratio < 0.5 else "$text-warning" if ratio < 0.8 else "bold $text-error"
            content = Content.assemble(("last progress ", "dim"), (duration(since) + " ago", style),
                                       (f" · stall at {duration(limit)}", "dim"))
        else:
            content = Content.assemble(("last progress ", "dim"), duration(since) + " ago")
        if content != self._stall_shown:
            self._stall_shown = content
            # One line, fixed height: repaint it without re-laying out the screen every second.
            self.query_one("#prog-stall", Static).update(content, layout=False)
