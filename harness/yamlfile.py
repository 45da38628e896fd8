"""Load a YAML file into a pydantic model, turning every problem into an :class:`InputError`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import InputError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as a YAML mapping; a syntax error names the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "(file)", "no such file", "check the path") from None
    except OSError as exc:
        raise InputError(path, "(file)", f"cannot read: {exc.strerror}", "check its permissions") from None
    try:
        data = yaml.safe_load(text)
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
