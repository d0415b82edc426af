"""From Hydra's composed config to plain objects: done once, at the entry point."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .composing import check_known_keys
from .config import RunConfig
from .errors import ConfigError


def task_file(hydra_cfg, task_name: str) -> str:
    """The task YAML's path, found on Hydra's config search path, for error messages."""
    for source in hydra_cfg.runtime.config_sources:
        if source.schema == "file":
            path = Path(source.path) / "task" / f"{task_name}.yaml"
            if path.exists():
                return str(path)
    return f"task/{task_name}.yaml" if task_name else "conf/config.yaml"


def to_run_config(cfg: DictConfig, where: str, overrides: Sequence[str] = ()) -> RunConfig:
    if "task" not in cfg or cfg.task is None or OmegaConf.is_missing(cfg, "task"):
        raise ConfigError("no task chosen: add +task=NAME (e.g. +task=digits)", key="task", where="command line")
    check_known_keys(cfg, overrides, where)
    try:
        run_cfg = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", "") or ""
        raise ConfigError(_first_line(e), key=str(key), where=where) from None
    run_cfg.task_file = where
    return run_cfg


def instantiate_task(task_cfg, where: str):
    if "_target_" not in task_cfg:
        raise ConfigError("the task needs a _target_ naming its class", key="task._target_", where=where)
    try:
        return instantiate(task_cfg, _convert_="all")
    except InstantiationException as e:
        cause = e
        while cause.__cause__ is not None:  # the root cause says what is wrong (e.g. no such module)
            cause = cause.__cause__
        if isinstance(cause, ConfigError):  # the task found a problem in its own input: say that
            raise cause from None
        raise ConfigError(f"cannot build {task_cfg._target_!r}: {_first_line(cause)}",
                          key="task._target_", where=where) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
