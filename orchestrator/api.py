"""orchestrator.run(...): a ladder from a notebook or a script, without Hydra's command line.

    import orchestrator
    result = orchestrator.run("digits", overrides=["optim.lr=0.01"])       # a task file by name
    result = orchestrator.run(MyTask(), ladder="my_ladder.yaml")           # your own object and ladder
    result = orchestrator.run({"_target_": "stages.digits.DigitsTask", "hidden": 64}, ladder={...})

The config is composed as the CLI composes it (conf/config.yaml, then the task file, then `ladder`,
then `overrides`), checked in full, and the run writes the same run directory as the CLI. A bad
config raises ConfigError, whose message is one line naming the key.
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from . import composing, files, threads, validation
from .config import register
from .errors import ConfigError
from .result import Result

ARGUMENT = "orchestrator.run"


def run(task: Any, ladder: Union[None, str, Path, Mapping] = None,
        overrides: Union[Sequence[str], Mapping[str, Any]] = (), run_dir: Union[None, str, Path] = None,
        config_dir: Union[None, str, Path] = None, live: Optional[bool] = None) -> Result:
    """Run (or resume, when run_dir holds an interrupted run) a ladder; returns its Result.

    task: a task file's name ("digits": conf/task/digits.yaml, or config_dir/task/NAME.yaml), a dict
        {_target_: module.Class, ...arguments}, or a task object (`metrics` and `build(knobs, seed)`).
    ladder: a dict or a YAML file in a task file's form (keys knobs, ladder, optim, ...), or just the
        ladder: {stages: {...}, knobs: {...}, budget: ...}. Default: the task file's.
    overrides: ["optim.lr=0.01", ...] in Hydra's syntax, or {"optim.lr": 0.01}.
    run_dir: where the run writes (default outputs/<date>/<time>, as the CLI).
    live: progress bars (default: when stdout is a terminal).
    """
    override_list, where = _override_list(overrides), ARGUMENT
    try:
        cfg, name, where, task_obj = compose(task, ladder, overrides, config_dir)
        from .loading import instantiate_task, to_run_config

        run_cfg = to_run_config(cfg, where, override_list)
        validation.validate(run_cfg)
        if task_obj is None:
            task_obj = instantiate_task(cfg.task, where)
        from . import engine  # torch loads here

        threads.apply(run_cfg.threads)
        prepared = engine.prepare(run_cfg, task_obj)
    except ConfigError as e:
        raise _blamed(e, override_list, where) from None
    run_dir = Path(run_dir) if run_dir is not None else \
        Path("outputs") / datetime.datetime.now().strftime("%Y-%m-%d/%H-%M-%S")

    def save_config():
        files.write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
        files.write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(override_list))

    engine.run(run_cfg, task_obj, run_dir, name, live=sys.stdout.isatty() if live is None else live,
               prepared=prepared, on_start=save_config)
    return Result.load(run_dir)


def load(run_dir: Union[str, Path]) -> Result:
    """The Result of a run directory (finished or not), as `run` returns it."""
    return Result.load(run_dir)


def compose(task: Any, ladder, overrides, config_dir) -> tuple[DictConfig, str, str, Any]:
    """The config the CLI would compose; returns (config, task name, file for errors, task object or None)."""
    register()
    config_dirs = [composing.CONF] + ([Path(config_dir)] if config_dir else [])
    task_obj, name, where = None, "", ARGUMENT
    if isinstance(task, str):
        name = task
        where = composing.config_file(f"task/{task}", config_dirs)
    cfg = _hydra_compose(config_dirs, [f"+task={task}"] if isinstance(task, str) else [])
    if isinstance(task, Mapping):
        _merge(cfg, {"task": dict(task)}, ARGUMENT)
        name = str(task.get("_target_", "")).rpartition(".")[2]
    elif not isinstance(task, str):
        if not (hasattr(task, "build") and hasattr(task, "metrics")):
            raise ConfigError("a task is a task file's name, a {_target_: ...} dict, or an object with "
                              f"`metrics` and `build(knobs, seed)`; got {type(task).__name__}", key="task",
                              where=ARGUMENT)
        task_obj, name = task, type(task).__name__
        _merge(cfg, {"task": {"_target_": f"{type(task).__module__}.{type(task).__qualname__}"}}, ARGUMENT)
    if ladder is not None:
        where = str(ladder) if isinstance(ladder, (str, Path)) else where
        _merge(cfg, _ladder_doc(ladder), where)
    for key, value in _parsed(overrides):
        _merge_key(cfg, key, value)
    return cfg, name, where, task_obj


def _hydra_compose(config_dirs: list, overrides: list) -> DictConfig:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # e.g. called from inside a Hydra app
        GlobalHydra.instance().clear()
    search = [f"hydra.searchpath=[{','.join('file://' + str(Path(d).resolve()) for d in config_dirs[1:])}]"] \
        if len(config_dirs) > 1 else []
    try:
        with initialize_config_dir(config_dir=str(config_dirs[0]), version_base="1.3"):
            return compose(config_name="config", overrides=search + overrides)
    except ConfigError:
        raise
    except Exception as e:
        raise composing.translate(e, overrides, config_dirs) from None


def _ladder_doc(ladder) -> dict:
    if isinstance(ladder, (str, Path)):
        path = Path(ladder)
        if not path.exists():
            raise ConfigError("no such file", key="ladder", where=str(path))
        try:
            doc = OmegaConf.to_container(OmegaConf.load(path))
        except Exception as e:
            raise ConfigError(f"cannot read it: {' '.join(str(e).split())[:200]}", where=str(path)) from None
    else:
        doc = OmegaConf.to_container(OmegaConf.create(dict(ladder)))
    if not isinstance(doc, dict):
        raise ConfigError("a ladder is a mapping (stages, knobs, ...)", key="ladder", where=ARGUMENT)
    if "stages" in doc:  # just the ladder: its knobs go to the top level, the rest under `ladder`
        knobs = doc.pop("knobs", None)
        doc = {"ladder": doc, **({"knobs": knobs} if knobs is not None else {})}
    return doc


def _merge(cfg: DictConfig, doc: dict, where: str) -> None:
    try:
        # a ladder given here replaces the task file's stages and knobs instead of adding to them
        if isinstance(doc.get("ladder"), dict) and "stages" in doc["ladder"]:
            _clear(cfg.ladder.stages)
        if "knobs" in doc:
            _clear(cfg.knobs)
        with open_dict(cfg):  # as Hydra merges a task file; unknown keys are refused by to_run_config
            cfg.merge_with(doc)
    except OmegaConfBaseException as e:
        raise _error(e, where) from None


def _blamed(e: ConfigError, overrides: list, where: str) -> ConfigError:
    """A key typed in `overrides` is blamed on them (as the CLI blames the command line)."""
    e = composing.blame(e, overrides, where)
    if e.where in (composing.COMMAND_LINE, "overrides"):
        e.where = ARGUMENT
        e.args = (e.line(),)
    return e


def _clear(node: DictConfig) -> None:
    with open_dict(node):
        for key in list(node.keys()):
            del node[key]


def _merge_key(cfg: DictConfig, key: str, value: Any) -> None:
    try:
        with open_dict(cfg):
            OmegaConf.update(cfg, key, value, merge=True)
    except OmegaConfBaseException as e:
        raise _error(e, "overrides", key) from None


def _error(e: OmegaConfBaseException, where: str, key: str = "") -> ConfigError:
    key = key or str(getattr(e, "full_key", "") or "")
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if "not in" in first or "Key '" in first:
        first = "unknown key" + composing._suggest(key)
    return ConfigError(first, key=key, where=where)


def _override_list(overrides) -> list[str]:
    if isinstance(overrides, Mapping):
        return [f"{k}={v}" for k, v in overrides.items()]
    return [str(o) for o in overrides]


def _parsed(overrides) -> list[tuple[str, Any]]:
    """[(key, value)] from Hydra-syntax strings ('optim.lr=0.01', '+ladder.stages.x.lr=1') or a dict."""
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if isinstance(overrides, str):
        raise ConfigError("overrides is a list of strings or a dict, not one string", key="overrides",
                          where=ARGUMENT)
    parser = OverridesParser.create()
    pairs = []
    for text in overrides:
        try:
            (o,) = parser.parse_overrides([text])
        except Exception as e:
            raise ConfigError(f"cannot parse {text!r}: {' '.join(str(e).split())[:200]}", key="overrides",
                              where=ARGUMENT) from None
        if o.is_delete() or o.is_sweep_override():
            raise ConfigError(f"{text!r}: run() takes plain key=value overrides (no ~ deletions, no sweeps)",
                              key=o.key_or_group, where=ARGUMENT)
        pairs.append((o.key_or_group, o.value()))
    return pairs
