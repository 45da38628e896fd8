"""The profile-aware view: where attempts, registrations and stages come from, for any agent."""

from harness.profile import Profile, load_profile
from harness.view import View
from timelines import T0, context

HTTP_AGENT = Profile.model_validate({"name": "pusher", "images": {"amd64": "x"},
                                     "center": {"register": "POST /api/v1/write"},
                                     "health": {"ready": {"http": {"port": 9090, "path": "/-/ready"}}}})
TCP_AGENT = Profile.model_validate({"name": "bridge", "images": {"amd64": "x"}, "center": {"protocol": "tcp"},
                                    "health": {"ready": {"tcp": {"port": 1883}}}})


def wire(t, outcome):
    return ("wire", "connect", t, "agent", {"outcome": outcome})


def write(t, status):
    return ("center", "request", t, "center", {"method": "POST", "path": "/api/v1/write", "status": status})


def test_the_agents_own_signal_comes_first_and_says_so():
    view = context([("agent", "register_attempt", 0.1, "agent", {"attempt": 1}),
                    ("agent", "register_result", 0.11, "agent", {"attempt": 1, "status": 503}),
                    ("agent", "register_attempt", 0.3, "agent", {"attempt": 2}),
                    ("agent", "register_result", 0.31, "agent", {"attempt": 2, "status": 200}),
                    ("agent", "registered", 0.32, "agent", {"attempt": 2}), wire(0.05, "refused")])
    found = view.attempts()
    assert found.source == "agent" and [a.outcome for a in found] == ["failed", "ok"]
    assert found.describe() == "the agent's attempt log signal"


def test_http_agent_attempts_are_the_center_log_plus_unanswered_connections():
    view = context([wire(0.1, "refused"), wire(0.5, "timed_out"), wire(1.0, "answered"), write(1.01, 503),
                    write(1.4, 204), ("center", "request", 1.5, "center", {"method": "GET", "path": "/x",
                                                                           "status": 404})], profile=HTTP_AGENT)
    found = view.attempts()
    assert found.source == "center+wire"
    assert [round(t - T0, 2) for t in found.times] == [0.1, 0.5, 1.01, 1.4]
    assert [a.outcome for a in found] == ["refused", "timed_out", "failed", "ok"]
    registered = view.registrations()
    assert registered.source == "center" and [round(a.t - T0, 2) for a in registered] == [1.4]


def test_an_http_agent_s_answered_connection_is_no_success():
    view = context([wire(0.1, "answered")], profile=HTTP_AGENT)
    assert view.registrations().items == [] and view.attempts().source == "center+wire"


def test_the_source_comes_from_the_profile_not_from_whichever_saw_something_first():
    early = context([("center", "request", 0.1, "center", {"path": "/v1/register", "status": 200})])
    assert early.attempts().source == "agent" and early.attempts().items == []
    assert early.attempts(fallback_when_empty=True).source == "center+wire"


def test_a_tcp_agent_is_judged_on_the_wire_alone():
    view = context([wire(-1.0, "refused"), wire(0.1, "refused"), wire(0.6, "reset"), wire(1.6, "answered")],
                   profile=TCP_AGENT)
    found = view.attempts()
    assert found.source == "wire" and len(found) == 3  # the one before the agent started is not its own
    assert [a.ok for a in found] == [False, False, True] and view.registrations().source == "wire"


def test_readiness_is_the_probe_not_the_claim():
    view = context([("agent", "stage", 0.2, "agent", {"stage": "ready"}),
                    ("probe", "ready", 0.3, "agent", {"ok": False}), ("probe", "ready", 0.9, "agent", {"ok": True})])
    assert view.stage_claim("ready").t == T0 + 0.2 and view.stage_ok("ready").t == T0 + 0.9


def test_no_source_without_a_declaration_or_the_wire():
    bare = Profile.model_validate({"name": "bare", "images": {"amd64": "x"}})
    assert context([], profile=bare).attempts().source is None


def test_a_journal_is_read_through_the_profile_it_recorded():
    profile = load_profile("reference")
    records = [{"source": "agent", "kind": "attempt", "t": 5.0, "container": "agent", "fields": {"attempt": 1}}]
    view = View.of_journal(records, profile.model_dump(mode="json", by_alias=True))
    assert view.profile.center.register == "POST /v1/register" and len(view.attempts()) == 1
    assert View.of_journal(records, {}, "no-such-profile").profile.name == "no-such-profile"
