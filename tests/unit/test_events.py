"""The event catalogue is complete — every kind, every field startle records or reads — and only the
profile-aware layer knows an agent's words."""

import ast
import re
import subprocess
from pathlib import Path

from harness.events import EVENTS, SIGNALS, fields_of
from harness.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for p in (ROOT / "harness").rglob("*.py"))


def recorded_kinds() -> set[tuple[str, str]]:
    """(source, kind) of every literal ``timeline.record(...)`` / ``Event(...)`` in harness/."""
    found = set()
    for path in SOURCES:
        text = path.read_text()
        found |= set(re.findall(r'\.record\(\s*"(\w+)",\s*"([\w: ]+)"', text))
        found |= set(re.findall(r'Event\(\s*"(\w+)",\s*"([\w: ]+)"', text))
    return found


def _constants(tree: ast.Module) -> dict[str, object]:
    """Module-level ``NAME = "literal"`` assignments (``SOURCE = "wire"``)."""
    return {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
            for t in n.targets if isinstance(t, ast.Name)}


def _literal(node: ast.AST, consts: dict) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    return consts.get(node.id) if isinstance(node, ast.Name) else None


def _dict_keys(node: ast.AST, function: ast.AST | None) -> set[str]:
    """Keys of a dict literal, or of a dict variable built in ``function`` (literal, then ``d["k"] = ``)."""
    if isinstance(node, ast.Dict):
        return {k.value for k in node.keys if isinstance(k, ast.Constant)}
    if not isinstance(node, ast.Name) or function is None:
        return set()
    keys: set[str] = set()
    for inner in ast.walk(function):
        if isinstance(inner, (ast.Assign, ast.AnnAssign)):
            targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == node.id and isinstance(inner.value, ast.Dict):
                    keys |= _dict_keys(inner.value, None)
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                        and target.value.id == node.id and isinstance(target.slice, ast.Constant)):
                    keys.add(target.slice.value)
    return keys


def recorded_fields() -> set[tuple[str, str, str, str]]:
    """(source, kind, field, where) of every field harness/ records with a literal source and kind:
    the keywords of ``.record(SOURCE, KIND, ...)`` and the keys of ``Event(SOURCE, KIND, t, who, {...})``."""
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        consts = _constants(tree)
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            source, kind = (_literal(a, consts) for a in node.args[:2])
            if name not in ("record", "Event") or not isinstance(source, str) or not isinstance(kind, str):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name == "record":
                fields = {k.arg for k in node.keywords if k.arg is not None} - {"t"}
            else:
                scope = next((f for f in functions if f.lineno <= node.lineno <= f.end_lineno), None)
                fields = _dict_keys(node.args[4], scope) if len(node.args) > 4 else set()
            found |= {(source, kind, f, where) for f in fields}
    return found


def _selected(node: ast.AST, consts: dict, names: dict) -> set[tuple[str, str]]:
    """The (source, kind)s whose events an expression holds: ``*.signal("X")``, ``*.first/select(S, K)``,
    a variable holding them, a subscript, ``next/iter/list/sorted`` of them or a comprehension over them."""
    if isinstance(node, ast.Name):
        return names.get(node.id, set())
    if isinstance(node, ast.Subscript):
        return _selected(node.value, consts, names)
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        return _selected(node.generators[0].iter, consts, names)
    if not isinstance(node, ast.Call):
        return set()
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    args = [_literal(a, consts) for a in node.args]
    if name == "signal" and args and isinstance(args[0], str):
        return {("agent", args[0])}
    if name in ("first", "select") and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        return {(args[0], args[1])}
    if name in ("next", "iter", "list", "sorted", "reversed") and node.args:
        return _selected(node.args[0], consts, names)
    return set()


def _gets(scope: ast.AST, variable: str) -> list[tuple[str, int]]:
    """(field, line) of every ``variable.get("field")`` / ``variable[i].get("field")`` in ``scope``."""
    out = []
    for node in ast.walk(scope):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                and node.args and isinstance(node.args[0], ast.Constant)):
            target = node.func.value.value if isinstance(node.func.value, ast.Subscript) else node.func.value
            if isinstance(target, ast.Name) and target.id == variable:
                out.append((node.args[0].value, node.lineno))
    return out


def read_fields() -> set[tuple[str, str, str, str]]:
    """(source, kind, field, where) of the fields harness/ reads from events it selected by literal
    source and kind (or signal name): a variable, loop or comprehension over them, then ``.get``."""
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        consts = _constants(tree)
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            scopes: list[tuple[ast.AST, str, set]] = []
            names: dict[str, set] = {}
            for node in ast.walk(function):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    if kinds := _selected(node.value, consts, names):
                        names.setdefault(node.targets[0].id, set()).update(kinds)
            scopes += [(function, name, kinds) for name, kinds in names.items()]
            for node in ast.walk(function):
                if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                    scopes.append((node, node.target.id, _selected(node.iter, consts, names)))
                if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)):
                    scopes += [(node, g.target.id, _selected(g.iter, consts, names))
                               for g in node.generators if isinstance(g.target, ast.Name)]
            for scope, variable, kinds in scopes:
                for field, line in _gets(scope, variable):
                    found |= {(s, k, field, f"{path.relative_to(ROOT)}:{line}") for s, k in kinds}
    return found


def undeclared(fields: set[tuple[str, str, str, str]]) -> list[str]:
    return sorted(f"{s}/{k}.{f} ({where})" for s, k, f, where in fields if f not in fields_of(s, k))


def test_every_recorded_event_is_declared_once():
    missing = recorded_kinds() - set(EVENTS)
    assert not missing, f"declare these in harness/events.py: {sorted(missing)}"


def test_every_field_startle_records_is_declared():
    found = recorded_fields()
    assert ("harness", "native_ready", "ready_after_s") in {f[:3] for f in found}  # the scan sees them
    assert ("center", "log_line", "msg_ts") in {f[:3] for f in found}  # built up in a variable
    missing = undeclared(found)
    assert not missing, "declare these fields in harness/events.py:\n" + "\n".join(missing)


def test_every_field_startle_reads_is_declared():
    found = read_fields()
    for read in [("agent", "attempt_result", "elapsed_ms"), ("agent", "give_up", "attempts"),
                 ("agent", "config_loaded", "waited_s"), ("center", "log_line", "msg_ts")]:
        assert read in {f[:3] for f in found}, read  # the scan sees them
    missing = undeclared(found)
    assert not missing, "declare these fields in harness/events.py:\n" + "\n".join(missing)


def test_an_undeclared_field_is_caught(tmp_path):
    """The scans fail on what the catalogue lacks (a field named otherwise than declared)."""
    assert undeclared({("harness", "native_ready", "ready_s", "x.py:1")}) == ["harness/native_ready.ready_s (x.py:1)"]
    assert not undeclared({("agent", "backoff", "line", "x.py:1"), ("docker", "die", "lag_s", "x.py:1")})


def test_the_reference_profile_declares_only_known_signals():
    assert set(load_profile("reference").signals.match) <= set(SIGNALS)


def test_no_module_outside_the_profile_layer_knows_the_reference_agent():
    """Nothing in harness/ outside the profile-aware layer (harness/view.py) names the reference
    agent's events, config file or registration path: the storm included, which takes its route
    from the profile (harness/storm/target.py)."""
    words = ["register_attempt", "agent.json", "/v1/register"]
    hits = subprocess.run(["grep", "-rnE", "|".join(re.escape(w) for w in words), "harness"],
                          cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    allowed = ("harness/view.py:",)
    leaks = [h for h in hits if not h.startswith(allowed) and not h.startswith("Binary file")]
    assert not leaks, "\n".join(leaks)


def test_no_scenario_description_speaks_the_reference_agents_words():
    """Descriptions are printed in every agent's report: no file name, exit code or variable of the
    reference agent's."""
    import yaml
    words = re.compile(r"agent\.json|/v1/register|register_attempt|/app/config|NODE_ID|\(exit \d+\)")
    said = {path.name: yaml.safe_load(path.read_text()).get("description", "")
            for path in (ROOT / "scenarios").glob("*.yaml")}
    assert not {name: text for name, text in said.items() if words.search(text)}
