"""python -m orchestrator +task=NAME [overrides]: run (or resume) a ladder in Hydra's run directory.

Whatever goes wrong ends in one line on stderr (see docs/reliability.md for the exit codes): Hydra's
own composition errors are caught around `main`, the config is checked in full before anything is
written, and an unexpected crash leaves ladder.json current and its traceback in `crash.log`.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from pathlib import Path

import json
import math

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from orchestrator import composing, files, objective, threads, validation
from orchestrator.config import RunConfig, register
from orchestrator.errors import ConfigError, DiskFullError, TaskError
from orchestrator.loading import instantiate_task, task_file, to_run_config

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> int:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    task_name = hydra_cfg.runtime.choices.get("task") or ""
    where = task_file(hydra_cfg, task_name)
    overrides = list(hydra_cfg.overrides.task)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        run_cfg: RunConfig = to_run_config(cfg, where, overrides)
        validation.validate(run_cfg)  # the run's settings, before the task's module (and torch) loads
        task = instantiate_task(cfg.task, where)
        from orchestrator import engine  # torch loads here: a config refused earlier is refused in ~1 s

        threads.apply(run_cfg.threads, threads.jobs_at_once(hydra_cfg))  # once, before any work
        finished = finished_status(run_dir) if run_cfg.resume else None
        prepared = engine.prepare(run_cfg, task)  # every check; nothing is written before it passes

        def save_config():  # what Hydra would have saved in .hydra/, written once the run owns the directory
            files.write_text(run_dir / ".hydra" / "config.yaml", OmegaConf.to_yaml(cfg))
            files.write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(overrides))

        status = engine.run(run_cfg, task, run_dir, task_name, live=sys.stdout.isatty(), prepared=prepared,
                            on_start=save_config)
        if finished:
            print(f"{run_dir}: this run finished already ({finished}): nothing to train; its results are in "
                  f"{run_dir / 'report.md'} (a new run needs a new hydra.run.dir)")
    except ConfigError as e:
        e = composing.blame(e, overrides, where)
        if sweeping and not isinstance(e, DiskFullError):  # one refused job does not end the sweep
            remove_if_empty(run_dir)
            print(f"error: {e.line()}", file=sys.stderr)
            return math.nan
        fail(e, run_dir)
    except KeyboardInterrupt:
        print(f"interrupted: resume with the same command and hydra.run.dir={run_dir}", file=sys.stderr)
        sys.exit(130)
    except TaskError as e:  # the user's own code raised: named in ladder.json (task_error); fix it and resume
        where = saved_traceback(e.original, run_dir)
        print(f"error: {e.line()}; {where}; fix it and run the same command to resume", file=sys.stderr)
        sys.exit(e.exit_code)
    except Exception as e:  # a bug or a fault of the machine: one line, the traceback in the run directory
        crashed(e, run_dir)
    if sweeping:  # a sweep goes on to its next job; its sweeper optimises this value (objective=...)
        return objective.value(run_cfg.objective, json.loads((run_dir / "ladder.json").read_text()))
    sys.exit(engine.exit_code(status))


def finished_status(run_dir: Path) -> str | None:
    """'converged' or 'stalled' when run_dir holds a run that has ended (resuming it trains nothing)."""
    from orchestrator import record

    previous = record.load(run_dir / "ladder.json")  # an unusable file: a ConfigError naming it
    return previous["status"] if previous and previous["status"] != record.RUNNING else None


def fail(e: ConfigError, run_dir: Path | None = None) -> None:
    if run_dir is not None:
        remove_if_empty(run_dir)
    print(f"error: {e.line()}", file=sys.stderr)
    sys.exit(e.exit_code)


def remove_if_empty(run_dir: Path) -> None:
    """Hydra creates the run directory before our checks: a refused config leaves no empty folder."""
    try:
        run_dir.rmdir()  # only succeeds when empty
    except OSError:
        pass


def crashed(e: BaseException, run_dir: Path) -> None:
    full = files.disk_full_in(e)
    if full:
        if full == files.UNNAMED:  # e.g. TensorBoard's event writer, which does not say which file
            tb = any("tensorboard" in f.filename for f in traceback.extract_tb(e.__traceback__))
            where = f"the TensorBoard event files under {run_dir / 'tb'}" if tb else f"under {run_dir}"
            full = f"cannot write {where}"
        print(f"error: {full}: the disk is full; free some space and run the same command to resume",
              file=sys.stderr)
        sys.exit(1)
    where = saved_traceback(e, run_dir)
    message = " ".join(str(e).split())[:200]
    print(f"error: unexpected {type(e).__name__}: {message} ({where}); the same command resumes the run",
          file=sys.stderr)
    sys.exit(1)


def saved_traceback(e: BaseException, run_dir: Path) -> str:
    """The traceback into run_dir/crash.log; where it is, in words."""
    try:
        log = run_dir / "crash.log"
        files.write_text(log, "".join(traceback.format_exception(e)))
        return f"traceback in {log}"
    except Exception:
        return "(traceback not saved)"


def quiet_when_disk_full(args) -> None:
    """TensorBoard writes from a thread: a full disk there is reported once, by the main thread's error."""
    if files.disk_full_in(args.exc_value):
        return
    DEFAULT_THREAD_HOOK(args)


DEFAULT_THREAD_HOOK = threading.excepthook


def entry() -> None:
    """Run `main`, turning Hydra's own errors (raised before `main` runs) into one line."""
    from hydra._internal.utils import get_args_parser

    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing its multi-line report
    threading.excepthook = quiet_when_disk_full
    args, _ = get_args_parser().parse_known_args()
    config_dirs = [composing.CONF] + ([Path(args.config_dir)] if args.config_dir else [])
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:
        try:
            error = composing.translate(e, args.overrides or [], config_dirs)
        except Exception:
            print(f"error: {type(e).__name__}: {' '.join(str(e).split())[:300]}", file=sys.stderr)
            sys.exit(1)
        fail(error)


if __name__ == "__main__":
    entry()
