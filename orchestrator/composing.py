"""Hydra's own errors (composition, override syntax, YAML) as one ConfigError naming file and key.

Hydra composes the config before our code runs, so its errors reach the entry point as exceptions
(HYDRA_FULL_ERROR=1). Each becomes `<file or "command line">: <key>: <problem>`: a value typed on
the command line is blamed on the command line, a value in a YAML file on that file.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .errors import ConfigError

COMMAND_LINE = "command line"
GROUPS = {"task"}  # config groups (a choice of file, not a value)
CONF = Path(__file__).resolve().parents[1] / "conf"


def override_key(override: str) -> str:
    """'+ladder.budget=3' -> 'ladder.budget'; '~a.b' -> 'a.b'."""
    return override.split("=", 1)[0].lstrip("+~")


def typed_on_command_line(key: str, overrides: Sequence[str]) -> bool:
    """Whether `key` was set by (or contains, or lies inside) a command-line override."""
    for o in overrides:
        k = override_key(o)
        if k in GROUPS or "/" in k:  # `+task=toy` chooses the task file: its values stay the file's
            continue
        if k and (k == key or key.startswith(k + ".") or k.startswith(key + ".")):
            return True
    return False


def blame(e: ConfigError, overrides: Sequence[str], task_file: str) -> ConfigError:
    """Move the blame for a task-file error to the command line when the key was typed there."""
    if e.where in ("", task_file, "conf/config.yaml") and e.key and typed_on_command_line(e.key, overrides):
        e.where = COMMAND_LINE
        e.args = (e.line(),)
    return e


def config_file(name: str, config_dirs: Sequence[Path]) -> str:
    """'task/toy' -> the YAML file Hydra read it from (the first config dir that has it, as in Hydra)."""
    for d in config_dirs:
        path = Path(d).resolve() / f"{name}.yaml"
        if path.exists():
            return str(path)
    return f"{name}.yaml"


def _omegaconf_cause(e: BaseException) -> Optional[OmegaConfBaseException]:
    while e is not None:
        if isinstance(e, OmegaConfBaseException):
            return e
        e = e.__cause__ or e.__context__
    return None


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _problem(cause: OmegaConfBaseException) -> str:
    text = _first_line(cause)
    m = re.match(r"Key '([^']+)' (?:is )?not in '([^']+)'", text)
    if m:
        return f"unknown key {m.group(1)!r}"
    return text


def _suggest(key: str) -> str:
    """' (did you mean ladder.budget?)' for a misspelt key of the schema."""
    import typing

    from .config import RunConfig

    node, parts = RunConfig, key.split(".")
    for part in parts[:-1]:
        node = typing.get_type_hints(node).get(part) if is_dataclass(node) else None
        if not is_dataclass(node):
            return ""
    close = difflib.get_close_matches(parts[-1], [f.name for f in fields(node)], n=1)
    return f" (did you mean {'.'.join(parts[:-1] + close)}?)" if close else ""


def translate(e: BaseException, overrides: Sequence[str], config_dirs: Sequence[Path]) -> ConfigError:
    """One ConfigError for any exception Hydra raised while parsing the command line or composing."""
    import yaml
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException

    if isinstance(e, ConfigError):
        return e
    # a YAML file that does not parse: the file and line PyYAML points at
    y = e
    while y is not None and not isinstance(y, yaml.YAMLError):
        y = y.__cause__ or y.__context__
    if isinstance(y, yaml.YAMLError):
        mark = getattr(y, "problem_mark", None)
        where = f"{mark.name}:{mark.line + 1}" if mark is not None else "a YAML file"
        problem = getattr(y, "problem", None) or _first_line(y)
        return ConfigError(f"YAML syntax error: {problem}", where=where)
    if isinstance(e, OverrideParseException):
        bad = _unparsable(overrides)
        return ConfigError(f"cannot parse {bad!r}: {_first_line(e)}" if bad else f"cannot parse: {_first_line(e)}",
                           key=override_key(bad) if bad else "", where=COMMAND_LINE)
    if isinstance(e, MissingConfigException):
        m = re.search(r"Could not find '([^']+)'", str(e))
        missing = m.group(1) if m else (e.missing_cfg_file or "")
        group, _, name = missing.rpartition("/")
        options = f" (the choices: {', '.join(e.options)})" if e.options else ""
        if group:
            return ConfigError(f"no {group} named {name!r}{options}", key=group, where=COMMAND_LINE)
        return ConfigError(f"no config named {missing!r}", where=COMMAND_LINE)
    text = str(e)
    cause = _omegaconf_cause(e)
    key = str(getattr(cause, "full_key", "") or "") if cause is not None else ""
    m = re.match(r"Could not (?:override|append to config|delete from config)[^']*'([^']+)'", text)
    if m:  # a key typed on the command line that the schema does not have
        inner = key  # e.g. optim.args.betas when a dict was given to optim.args
        key = m.group(1)
        problem = f"unknown key{_suggest(key)}" if "not in" in str(cause or "") or "not found" in text \
            else _first_line(cause or e)
        if inner.startswith(key + "."):  # a new key inside a dict setting: Hydra needs a + for it
            problem = f"{inner[len(key) + 1:]!r} is not a key yet: add it with +{inner}=..."
        return ConfigError(problem, key=key, where=COMMAND_LINE)
    m = re.match(r"Error merging override (\S+)", text)
    if m:
        o = m.group(1)
        return ConfigError(_problem(cause) if cause else _first_line(e), key=key or override_key(o), where=COMMAND_LINE)
    m = re.match(r"In '([^']+)'", text)
    if m:  # a value in a config file
        where = config_file(m.group(1), config_dirs)
        problem = _problem(cause) if cause else _first_line(e).split(":", 1)[-1].strip()
        if cause is not None and problem.startswith("unknown key"):
            problem += _suggest(key)
        return ConfigError(problem, key=key, where=where)
    if isinstance(e, ConfigCompositionException) or cause is not None:
        return ConfigError(_problem(cause) if cause else _first_line(e), key=key, where=COMMAND_LINE)
    raise e  # not a config problem: the caller treats it as a crash


def _unparsable(overrides: Sequence[str]) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for o in overrides:
        try:
            parser.parse_overrides([o])
        except Exception:
            return o
    return ""


def check_known_keys(cfg: DictConfig, overrides: Sequence[str], task_file: str) -> None:
    """Refuse keys the schema lacks (e.g. `+optim.foo=1`, a typo under a stage): Hydra lets `+` add them."""
    def walk(node, path: str):
        if not isinstance(node, DictConfig):
            return
        schema = OmegaConf.get_type(node)
        known = {f.name for f in fields(schema)} if is_dataclass(schema) else None
        for k in node.keys():
            key = f"{path}.{k}" if path else str(k)
            if key in ("hydra", "task"):  # hydra's own; the task's arguments are checked by its class
                continue
            if known is not None and k not in known:
                close = difflib.get_close_matches(str(k), sorted(known), n=1)
                hint = f" (did you mean {path + '.' if path else ''}{close[0]}?)" if close else \
                    f" (the keys here: {', '.join(sorted(known))})"
                raise blame(ConfigError(f"unknown key{hint}", key=key, where=task_file), overrides, task_file)
            child = node._get_node(k)
            if isinstance(child, DictConfig):
                walk(child, key)

    walk(cfg, "")
