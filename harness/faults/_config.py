"""The agent's config copy, whatever its format: read it, set a key path, write a malformed file.

Formats: JSON, YAML, TOML (tomlkit, comments kept) and INI (``section.key``). A key path is
dotted: ``retry.deadline_s``. The copy is the scenario's own (``AgentSpec.config``), never the
profile's templates.
"""

from __future__ import annotations

import configparser
import io
import json
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
import yaml

from harness.containers import ConfigCopy

MALFORMED = {
    "json": '{\n  "retry": {"base_ms": 100,},\n',
    "yaml": "retry:\n  base_ms: [100\n  cap_ms: 4000\n",
    "toml": "[retry\nbase_ms = \n",
    "ini": "[retry\nbase_ms 100\n",
}
"""A file of each format that its parser refuses (an unclosed bracket, a missing value)."""


def _set_dotted(obj: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        obj = obj.setdefault(key, {})
    obj[leaf] = value


def parse(text: str, fmt: str) -> dict[str, Any]:
    """A config file's settings as plain data (INI: ``{section: {key: value}}``, its DEFAULT
    section's keys at the top). Raises ValueError when the text does not parse as ``fmt``."""
    try:
        if fmt == "json":
            data = json.loads(text)
        elif fmt == "yaml":
            data = yaml.safe_load(text)
        elif fmt == "toml":
            data = tomlkit.parse(text).unwrap()
        else:
            parser = configparser.ConfigParser(interpolation=None)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(text)
            data = {**parser.defaults(), **{name: dict(parser.items(name, raw=True)) for name in parser.sections()}}
    except (ValueError, yaml.YAMLError, configparser.Error, tomlkit.exceptions.TOMLKitError) as exc:
        raise ValueError(f"not {fmt}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ValueError(f"not {fmt} settings: the file holds a {type(data).__name__}, not a mapping")
    return data


def set_setting(spec: Any, name: str, value: Any) -> Path:
    """Set startle's setting ``name`` where the profile's ``config.keys`` puts it (faults' ``needs``
    make sure it does)."""
    return set_keys(spec.config, {spec.config.keys[name]: value})


def set_keys(copy: ConfigCopy, changes: dict[str, Any]) -> Path:
    """Set each dotted key path of the main file to its value; returns the file's path."""
    path, fmt = copy.main, copy.format
    if path is None or fmt is None:
        raise ValueError("the profile declares no config.file (or its format): nothing to change")
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        data = json.loads(text)
        for key, value in changes.items():
            _set_dotted(data, key, value)
        text = json.dumps(data, indent=2) + "\n"
    elif fmt == "yaml":
        data = yaml.safe_load(text) or {}
        for key, value in changes.items():
            _set_dotted(data, key, value)
        text = yaml.safe_dump(data, sort_keys=False)
    elif fmt == "toml":
        doc = tomlkit.parse(text)
        for key, value in changes.items():
            _set_dotted(doc, key, value)  # type: ignore[arg-type]
        text = tomlkit.dumps(doc)
    else:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]  (keys keep their case)
        parser.read_string(text)
        for key, value in changes.items():
            section, _, option = key.rpartition(".")
            section = section or parser.default_section
            if section != parser.default_section and not parser.has_section(section):
                parser.add_section(section)
            parser.set(section, option, str(value))
        out = io.StringIO()
        parser.write(out)
        text = out.getvalue()
    path.write_text(text, encoding="utf-8")
    return path
