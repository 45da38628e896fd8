"""Load a YAML file into a pydantic model, turning every problem into an :class:`InputError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import InputError

M = TypeVar("M", bound=BaseModel)


MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The largest scenario, profile, settings or journal file startle reads (bytes)."""


def read_input(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of an input file: UTF-8, at most ``max_bytes``; every problem an :class:`InputError`."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InputError(path, "(file)", "is a folder", "give the path of a file")
        if size > max_bytes:
            raise InputError(path, "(file)", f"{size} bytes, more than the {max_bytes} startle reads",
                             "check that this is the file you meant")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "(file)", "no such file", "check the path") from None
    except OSError as exc:
        raise InputError(path, "(file)", f"cannot read: {exc.strerror}", "check its permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(path, f"line {line}", f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})",
                         "save the file as UTF-8") from None


def parse_json(path: Path, text: str, fix: str, line: int | None = None) -> Any:
    """``json.loads(text)``; a syntax error or a nesting too deep names the line (``line`` when
    ``text`` is one line of the file) and ``fix``."""
    import json
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"line {line or exc.lineno}", f"not valid JSON ({exc.msg})", fix) from None
    except RecursionError:
        raise InputError(path, f"line {line}" if line else "(top level)", "nested too deeply", fix) from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as a YAML mapping; a syntax error names the line and column."""
    text = read_input(path)
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise InputError(path, "(top level)", "nested too deeply for startle to read",
                         "flatten the structure (startle's files are a few levels deep)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "(syntax)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(path, where, f"YAML syntax error: {problem}",
                         "fix the indentation or quoting at that place") from None
    if not isinstance(data, dict):
        raise InputError(path, "(top level)", f"expected a mapping, got {type(data).__name__}",
                         "write `name: ...` and the other fields at the top level")
    return data


def field_path(loc: tuple[Any, ...]) -> str:
    """``("expect", 1, "within_s")`` → ``expect[1].within_s``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def fix_for(error: dict[str, Any], model: type[BaseModel]) -> str:
    """A one-line fix for one pydantic error."""
    kind = error["type"]
    if kind == "missing":
        return f"add the field `{error['loc'][-1]}`"
    if kind == "extra_forbidden":
        return "remove it, or check its spelling against the documented fields"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        words = {"float": "a number", "int": "a whole number", "bool": "true or false", "string": "text",
                 "list": "a list (`- item` lines)", "dict": "a mapping (`key: value` lines)",
                 "model": "a mapping (`key: value` lines)"}
        wanted = words.get(kind.split("_")[0], "a value of the documented type")
        return f"write {wanted} here"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"use a value that is {error['msg'].lower().replace('input should be ', '')}"
    if kind == "literal_error":
        return error["msg"].replace("Input should be", "use one of")
    return error["msg"]


def validate(model: type[M], data: dict[str, Any], path: Path, context: dict[str, Any] | None = None) -> M:
    """``model.model_validate(data)``; the first problem becomes an InputError naming field and fix."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        problem = first["msg"]
        if first["type"] == "value_error":
            problem, _, fix = problem.removeprefix("Value error, ").partition("; fix: ")
            raise InputError(path, field_path(loc), problem, fix or "see the documented fields") from None
        raise InputError(path, field_path(loc), problem, fix_for(first, model)) from None
