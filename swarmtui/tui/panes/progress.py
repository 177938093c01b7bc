"""Training progress: round/stage, step k/n with a bar, rate, ETA, rounds, rewards, the v0.6
Prediction Market, stall clock, and the trends of the last rounds of this and earlier runs
(events.RoundTrends): round time, and the reward (hivemind era) or the bets (v0.6) per round."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar, Sparkline, Static

from swarmtui.engine.events import ProgressUpdate
from swarmtui.node.progress import describe_market
from swarmtui.node.text import sanitize
from swarmtui.tui.charts import brief_duration, trend_label
from swarmtui.tui.format import duration, short
from swarmtui.tui.point_sparkline import PointSparkline

SPARK_POINTS = 40


class ProgressPane(Vertical):
    def __init__(self, stall_limit_s: float | None = None, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self.stall_limit_s = stall_limit_s
        self.progress: ProgressUpdate | None = None
        self._since_base: float | None = None
        self._since_at = 0.0
        self._stall_shown: Content | None = None
        # The silence timer: restart after this long with no output at all ([restart]
        # silence_limit). The app says when output last came (None while nothing runs).
        self.silence_limit_s: float | None = None
        self.quiet_since: float | None = None
        self.trends: list[dict] = []            # events.RoundTrends.rounds, oldest first
        self._trends_shown: dict[str, tuple] = {}    # trend row -> what it shows

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
        # The round time trend stays in the compact layout too: it is the one that tells a slow
        # machine (or a stalled swarm) at a glance.
        with Horizontal(id="trend-time", classes="trend-row -empty"):
            yield Label("round time ", classes="trend-name")
            yield PointSparkline([], id="trend-time-spark")
            yield Label("", id="trend-time-label", classes="trend-label")
        with Horizontal(id="trend-other", classes="trend-row -empty prog-more"):
            yield Label("", id="trend-other-name", classes="trend-name")
            yield PointSparkline([], id="trend-other-spark")
            yield Label("", id="trend-other-label", classes="trend-label")

    def on_mount(self) -> None:
        self.border_title = "Training progress"
        self.query_one("#prog-step-row").display = False
        # Classes, not `display`: an inline display=True beat the compact layout's CSS that hides
        # .prog-more, and the market's two lines pushed the round time trend out at 80x24.
        self.query_one("#prog-rewards").add_class("-empty")
        self.query_one("#prog-market").add_class("-empty")

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
            rewards.remove_class("-empty")
        else:
            rewards.add_class("-empty")
        market = self.query_one("#prog-market", Static)
        where, totals = (sanitize(x) for x in describe_market(p.market))   # the choice: node output
        if where or totals:
            lines = [("market ", "dim"), where or totals]
            if where and totals:
                lines += [("\n       ", ""), (totals, "dim")]
            market.update(Content.assemble(*lines))
        market.set_class(not (where or totals), "-empty")
        self._show_trends()
        self.tick(now)

    def set_trends(self, rounds: list[dict]) -> None:
        self.trends = [r for r in rounds if isinstance(r, dict)]
        self._show_trends()

    def _series(self, name: str) -> list[float]:
        return [float(r[name]) for r in self.trends[-SPARK_POINTS:]
                if isinstance(r.get(name), (int, float)) and not isinstance(r.get(name), bool)]

    def _show_trends(self) -> None:
        times = self._series("duration_s")
        if not times and self.progress is not None:
            times = [float(d) for d in (self.progress.round_durations or [])[-SPARK_POINTS:]]  # an older keeper
        self._trend_row("time", "round time ", times, trend_label(times, brief_duration))
        rewards, bets = self._series("reward"), self._series("bets")
        if rewards:
            self._trend_row("other", "reward ", rewards, trend_label(rewards))
        elif bets:
            self._trend_row("other", "bets/round ", bets, trend_label(bets))
        else:
            self._trend_row("other", "", [], "")
        shown = min(len(self.trends), SPARK_POINTS) if self.trends else len(times)
        self.border_subtitle = f"trends: last {shown} rounds" if times or rewards or bets else ""

    def _trend_row(self, which: str, name: str, values: list[float], label: str) -> None:
        key = (name, tuple(values))
        if self._trends_shown.get(which) == key:
            return      # progress comes several times a round: re-lay out only when a trend moved
        self._trends_shown[which] = key
        # A class, not `display`: an inline display would beat the layouts' CSS that hides the
        # rows (compact, needs-you).
        row = self.query_one(f"#trend-{which}")
        row.set_class(not values, "-empty")
        if not values:
            return
        if which == "other":
            self.query_one("#trend-other-name", Label).update(name)
        self.query_one(f"#trend-{which}-spark", Sparkline).data = values
        self.query_one(f"#trend-{which}-label", Label).update(Content(" " + label))

    def quiet_text(self, now: float) -> Content | None:
        """"quiet 12m of 20m" once the node has been silent long enough for it to matter (a
        quarter of the silence limit, a minute at least), coloured as it nears the restart."""
        limit = self.silence_limit_s
        if not limit or self.quiet_since is None:
            return None
        quiet = max(0.0, now - self.quiet_since)
        if quiet < max(60.0, limit / 4):
            return None
        ratio = quiet / limit
        style = "$text-warning" if ratio < 0.8 else "bold $text-error"
        return Content.assemble(("quiet ", "dim"), (duration(quiet), style), (f" of {duration(limit)}", "dim"))

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
        quiet = self.quiet_text(now)
        if quiet is not None:
            content = Content.assemble(content, (" · ", "dim"), quiet)
        if content != self._stall_shown:
            self._stall_shown = content
            # One line, fixed height: repaint it without re-laying out the screen every second.
            self.query_one("#prog-stall", Static).update(content, layout=False)
