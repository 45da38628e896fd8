"""Progress of `startle run`: plain lines in CI or when piped, one live line on a terminal."""

import io

from harness.progress import PlainProgress, TerminalProgress, progress_for


class Done:
    def __init__(self, name, status):
        self.name, self.status = name, status

    def summary_line(self):
        return f"{self.name}: {self.status}"


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_ci_or_a_pipe_gets_plain_lines_and_a_terminal_the_live_line(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert type(progress_for(3, io.StringIO())) is PlainProgress
    assert type(progress_for(3, FakeTerminal())) is TerminalProgress
    monkeypatch.setenv("CI", "true")
    assert type(progress_for(3, FakeTerminal())) is PlainProgress


def test_plain_lines_name_the_scenario_number_and_phase():
    out = io.StringIO()
    progress = PlainProgress(59, out)
    progress.phase(3, "baseline", "observe")
    progress.done(3, Done("baseline", "pass"))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("[3/59] baseline: observe") and lines[1].endswith("[3/59] baseline: pass")
    assert "\r" not in out.getvalue()


def test_the_live_line_shows_running_phases_and_counts_and_results_scroll_above_it():
    out = FakeTerminal()
    progress = TerminalProgress(4, out)
    progress.phase(1, "baseline", "observe")
    progress.phase(2, "oom", "agent")
    progress.done(1, Done("baseline", "pass"))
    screen = out.getvalue().split("\r\033[K")[-1]  # what the terminal shows after the last clear
    result_line, live = screen.split("\n")
    assert "PASS" in result_line and "baseline: pass" in result_line
    assert live.startswith("[1/4]") and "1 pass" in live and "oom: agent" in live and "baseline" not in live
    progress.close()
    assert out.getvalue().endswith("\r\033[K")
