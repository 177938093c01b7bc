"""Restart decisions: pure bookkeeping driven by an injected clock, no I/O.

The supervisor tells the policy when a run starts and what went wrong; the policy answers with a
Decision. The rules, in order:
- `ignore` actions and benign/info classes never restart (a restart can cost up to 3 h of batched
  rewards, facts §1.4);
- `warn` restarts only for the `degraded` class when it repeats warn_repeat times in warn_window;
- `needs-user` actions stop and show the hint;
- every automatic restart is checked against the crash-loop rule (startup_failures identical
  failures in a row, each before the run became stable) and the budget (budget restarts per
  budget_window); either one turns the restart into `needs-user`;
- the delay is exponential (backoff_initial * backoff_factor**n, capped at backoff_max), and n
  starts over once a run has lasted stable_after.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from swarmtui.engine.clock import Clock, MonotonicClock
from swarmtui.engine.config import RestartConfig, format_duration

RESTART = "restart"
NEEDS_USER = "needs-user"
IGNORE = "ignore"
WARN = "warn"

_NEVER_CLASSES = frozenset({"benign", "info"})
_RESTART_ACTIONS = frozenset({"restart", "restart-after-cleanup"})


@dataclass(frozen=True)
class Decision:
    action: str              # restart | needs-user | ignore | warn
    delay_s: float = 0.0     # for restart: wait this long before starting again
    attempt: int = 0         # for restart: 1 for the first restart in a row, 2 for the next, ...
    reason: str = ""         # the detection id (or "exited", "manual", ...)
    detail: str = ""         # one human line: why this decision
    hint: str = ""           # what the person can do (from the catalogue, or the policy's own)
    cleanup: bool = False    # kill our leftovers (orphans) before starting again


class RestartPolicy:
    def __init__(self, config: RestartConfig, clock: Clock | None = None):
        self.config = config
        self.clock = clock or MonotonicClock()
        self.run_started_at: float | None = None
        self._attempt = 0                          # restarts in a row since the last stable run
        self._restarts: deque[float] = deque()     # monotonic times of automatic restarts
        self._streak_id: str | None = None         # the start-up failure repeating in a row
        self._streak = 0
        self._warnings: dict[str, deque[float]] = {}

    # ------------------------------------------------------------ inputs

    def run_started(self) -> None:
        """A run (one launch of the script) has begun now."""
        self.run_started_at = self.clock.monotonic()

    def uptime(self) -> float:
        if self.run_started_at is None:
            return 0.0
        return max(0.0, self.clock.monotonic() - self.run_started_at)

    def reset(self) -> None:
        """The person took over (started the node by hand): forget streaks, budget and backoff."""
        self._attempt = 0
        self._restarts.clear()
        self._streak_id, self._streak = None, 0
        self._warnings.clear()

    def on_detection(self, id: str, cls: str, action: str, hint: str = "") -> Decision:
        """A catalogue match (or a timer: silence, stalled) during the current run."""
        if action == IGNORE or cls in _NEVER_CLASSES:
            return Decision(IGNORE, reason=id, detail="harmless; never a reason to restart", hint=hint)
        if action == WARN:
            if cls != "degraded":
                return Decision(WARN, reason=id, detail="shown and recorded; no restart", hint=hint)
            return self._repeated_warning(id, hint)
        if action == NEEDS_USER:
            return Decision(NEEDS_USER, reason=id, detail="no restart: this needs you", hint=hint)
        if action in _RESTART_ACTIONS:
            return self._restart(id, hint, cleanup=action == "restart-after-cleanup")
        # An action the policy does not know (a newer catalogue): say so, do nothing drastic.
        return Decision(WARN, reason=id, detail=f"unknown action {action!r}; no restart", hint=hint)

    def on_exit(self, code: int | None, signal: int | None, hint: str = "") -> Decision:
        """The launcher exited without a detection explaining why (its exit code means little:
        the script kills its own group and usually ends 143, facts §1.6)."""
        how = f"signal {signal}" if signal else f"code {code}"
        d = self._restart("exited", hint, cleanup=True)
        if d.action == RESTART:
            return Decision(RESTART, d.delay_s, d.attempt, d.reason, f"the launcher exited ({how}); {d.detail}",
                            d.hint, d.cleanup)
        return d

    def on_manual(self) -> Decision:
        """The person asked for a restart: now, outside the budget and the backoff."""
        return Decision(RESTART, 0.0, 0, "manual", "asked for by you", cleanup=True)

    # ------------------------------------------------------------ views

    def restarts_in_window(self) -> int:
        self._trim(self._restarts, self.config.budget_window)
        return len(self._restarts)

    def next_delay(self) -> float:
        """The delay the next automatic restart would get if the current run failed now."""
        attempt = 0 if self.uptime() >= self.config.stable_after else self._attempt
        return self._delay(attempt)

    # ------------------------------------------------------------ rules

    def _restart(self, id: str, hint: str, *, cleanup: bool) -> Decision:
        cfg = self.config
        now = self.clock.monotonic()
        stable = self.run_started_at is not None and self.uptime() >= cfg.stable_after
        if stable:
            self._attempt = 0
            self._streak_id, self._streak = None, 0

        if not stable:
            if id == self._streak_id:
                self._streak += 1
            else:
                self._streak_id, self._streak = id, 1
            if self._streak >= cfg.startup_failures:
                return Decision(
                    NEEDS_USER, reason=id,
                    detail=f"{self._streak} identical failures in a row ({id}), each within "
                           f"{format_duration(cfg.stable_after)} of starting: restarting again would loop",
                    hint=hint or "look at the evidence in the history, fix the cause, then start the node")

        used = self.restarts_in_window()
        if used >= cfg.budget:
            return Decision(
                NEEDS_USER, reason=id,
                detail=f"restart budget used up: {used} restarts in the last {format_duration(cfg.budget_window)}",
                hint=hint or "the node keeps failing; look at the history, fix the cause, then start it")

        delay = self._delay(self._attempt)
        self._attempt += 1
        self._restarts.append(now)
        return Decision(RESTART, delay, self._attempt, id,
                        f"restart {self._attempt} in a row, after {delay:g}s", hint, cleanup)

    def _repeated_warning(self, id: str, hint: str) -> Decision:
        cfg = self.config
        seen = self._warnings.setdefault(id, deque())
        seen.append(self.clock.monotonic())
        self._trim(seen, cfg.warn_window)
        if len(seen) < cfg.warn_repeat:
            return Decision(WARN, reason=id, hint=hint,
                            detail=f"{len(seen)} of {cfg.warn_repeat} in {format_duration(cfg.warn_window)} "
                                   f"before a restart")
        seen.clear()
        d = self._restart(id, hint, cleanup=False)
        if d.action == RESTART:
            return Decision(RESTART, d.delay_s, d.attempt, id,
                            f"repeated {cfg.warn_repeat} times in {format_duration(cfg.warn_window)}; {d.detail}",
                            hint, False)
        return d

    def _delay(self, attempt: int) -> float:
        cfg = self.config
        try:
            delay = cfg.backoff_initial * (cfg.backoff_factor ** attempt)
        except OverflowError:
            delay = cfg.backoff_max
        return min(delay, cfg.backoff_max)

    def _trim(self, times: deque[float], window: float) -> None:
        cutoff = self.clock.monotonic() - window
        while times and times[0] <= cutoff:
            times.popleft()
