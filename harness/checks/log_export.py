"""Log export across a center outage: the lines the agent logged while the center was unreachable
arrive after it, none lost, in order — counted against the agent's own output."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.checks.base import Check, CheckContext, Verdict, register

def shipped_lines(ctx: CheckContext) -> list:
    """The agent's lines that carry their own time (the ones it exports), one event per line, in
    time order; ``log_export`` lines describe the export and are not shipped."""
    seen, out = set(), []
    for e in ctx.timeline.select("agent"):
        if e.get("t_from") == "docker" or e.kind == "log_export" or e.get("line") in seen:
            continue
        seen.add(e.get("line"))
        out.append(e)
    return out


@register
class LogsDelivered(Check):
    """After the fault ``fault`` clears, within ``within_s``: every line the agent wrote (up to its
    first export after the clear that left nothing buffered) reached the center, each ``seq`` from
    1 with no gap, in the agent's order; the lines written during the outage arrived after it.

    Matching: a shipped line is identified by the signal it is and its own time.
    """

    type: Literal["logs_delivered"] = "logs_delivered"
    within_s: float = Field(gt=0, description="seconds after the fault cleared")
    fault: str = "proxy_down"
    min_during_outage: int = Field(1, ge=0, description="lines the agent must have logged during the outage")
    wants_center_logs: ClassVar[bool] = True
    profile_needs: ClassVar[tuple[str, ...]] = ("signals.match.log_export",)

    def _window(self, ctx: CheckContext):
        return next((w for w in ctx.fault_windows() if w.fault == self.fault), None)

    def anchor(self, ctx: CheckContext) -> float | None:
        window = self._window(ctx)
        return window.end if window else None

    def evaluate(self, ctx: CheckContext, final: bool) -> Verdict | None:
        window = self._window(ctx)
        if window is None or window.end is None:
            return self.verdict("fail", f"the fault {self.fault} was not applied and cleared") if final else None
        cleared = window.end
        flushed = ctx.timeline.first("agent", "log_export",
                                     lambda e: e.t > cleared and e.get("buffered") == 0 and not e.get("error"))
        emitted = shipped_lines(ctx)
        received = ctx.timeline.select("center", "log_line")
        first_rx: dict[tuple, object] = {}
        for r in received:
            first_rx.setdefault((r.get("event"), r.get("msg_ts")), r)
        down_until = window.lifted_from  # a line sent while the clear was under way may pass
        during = [e for e in emitted if window.start <= e.t <= down_until]
        m = {"emitted": len(emitted), "during_outage": len(during), "received": len(received),
             "outage_s": round(cleared - window.start, 3)}
        if flushed is not None:
            due = [e for e in emitted if e.t <= flushed.t]
            missing = [e for e in due if (e.kind, e.t) not in first_rx]
            if not missing:
                return self._judge(ctx, due, during, received, first_rx, down_until, m)
        if self.deadline_from(cleared, self.within_s, ctx, final):
            due = [e for e in emitted if e.t <= cleared]
            missing = [e for e in due if (e.kind, e.t) not in first_rx]
            m["lost"] = len(missing)
            what = (f"{len(missing)} of {len(due)} lines the agent wrote before the clear never reached the center "
                    f"(first lost: {missing[0].kind} at {missing[0].t - cleared:+.2f} s from the clear)"
                    if missing else "the agent never reported an export with nothing buffered")
            return self.verdict("fail", f"{what} within {self.within_s} s of the clear", **m)
        return None

    def _judge(self, ctx, due, during, received, first_rx, cleared, m) -> Verdict:
        seqs = [r.get("seq") for r in received]
        unique = sorted(set(s for s in seqs if isinstance(s, int)))
        gaps = [n for n in range(1, (unique[-1] if unique else 0) + 1) if n not in set(unique)]
        first_seen: list[int] = []
        seen: set[int] = set()
        for s in seqs:
            if s not in seen:
                seen.add(s)
                first_seen.append(s)
        out_of_order = sum(1 for a, b in zip(first_seen, first_seen[1:]) if b < a)
        # the agent's order vs the seqs it gave: the k-th line it wrote must carry seq k
        misnumbered = sum(1 for k, e in enumerate(due, 1) if first_rx[(e.kind, e.t)].get("seq") != k)
        late = [first_rx[(e.kind, e.t)].t for e in during]
        before_clear = sum(1 for t in late if t < cleared)
        m.update(due=len(due), lost=0, duplicates=len(seqs) - len(seen), seq_gaps=len(gaps),
                 out_of_order=out_of_order, misnumbered=misnumbered, outage_lines_before_clear=before_clear,
                 outage_delivered_after_clear_s=round(max(late) - cleared, 3) if late else None)
        problems = []
        if len(during) < self.min_during_outage:
            problems.append(f"only {len(during)} lines were written during the outage (need {self.min_during_outage})")
        if gaps:
            problems.append(f"{len(gaps)} seq gap(s) at the center (first: {gaps[0]})")
        if out_of_order:
            problems.append(f"{out_of_order} line(s) arrived out of order")
        if misnumbered:
            problems.append(f"{misnumbered} line(s) carry a seq other than their position in the agent's output")
        if before_clear:
            problems.append(f"{before_clear} line(s) written during the outage reached the center before it ended "
                            "(the outage did not cut the export)")
        if problems:
            return self.verdict("fail", "; ".join(problems), **m)
        return self.verdict("pass", f"{len(due)} lines written, {len(due)} received in order with no seq gap "
                                    f"({m['duplicates']} resent); the {len(during)} written during the "
                                    f"{m['outage_s']} s outage arrived {m['outage_delivered_after_clear_s']} s "
                                    "after it", **m)
