"""A small sweeper through Hydra's real plugin API, standing in for the Optuna sweeper in tests.

(hydra-optuna-sweeper 1.3 requires optuna < 3; this project's environment has optuna 5.) Like
Optuna's sweeper it launches jobs through Hydra's launcher, reads the float each job's `main`
returns, and writes the best one to optimization_results.yaml: it minimises, as `objective:
iterations` wants. Its search is a grid over `hydra.sweeper.params` plus the command line's sweeps.
"""
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf


@dataclass
class FakeBestSweeperConf:
    _target_: str = "hydra_plugins.fake_best_sweeper.FakeBestSweeper"
    params: Dict[str, str] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="fake_best", node=FakeBestSweeperConf, provider="tests")


class FakeBestSweeper(Sweeper):
    def __init__(self, params: Dict[str, str]):
        self.params = dict(params or {})

    def setup(self, *, hydra_context, task_function, config) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        parsed = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                else [o.input_line] for o in parsed]
        batch = [list(combo) for combo in itertools.product(*axes)]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        results = self.launcher.launch(batch, initial_job_idx=0)
        values = [float(r.return_value) for r in results]
        best = min(range(len(values)), key=lambda i: values[i])
        OmegaConf.save(OmegaConf.create({"best_params": batch[best], "best_value": values[best],
                                         "values": values}), sweep_dir / "optimization_results.yaml")
        return [results]
