"""python -m orchestrator +task=NAME [overrides]: run (or resume) a ladder in Hydra's run directory."""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from orchestrator import engine
from orchestrator.config import RunConfig, register
from orchestrator.errors import ConfigError
from orchestrator.loading import instantiate_task, task_file, to_run_config

register()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> int:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    task_name = hydra_cfg.runtime.choices.get("task") or ""
    where = task_file(hydra_cfg, task_name)
    try:
        run_cfg: RunConfig = to_run_config(cfg, where)
        task = instantiate_task(cfg.task, where)
        status = engine.run(run_cfg, task, run_dir, task_name, live=sys.stdout.isatty())
    except ConfigError as e:
        print(f"error: {e.line()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print(f"interrupted: resume with the same command and hydra.run.dir={run_dir}", file=sys.stderr)
        sys.exit(130)
    if hydra_cfg.mode == RunMode.MULTIRUN:  # a sweep goes on to its next job; each ladder.json has its status
        return engine.exit_code(status)
    sys.exit(engine.exit_code(status))


if __name__ == "__main__":
    main()
