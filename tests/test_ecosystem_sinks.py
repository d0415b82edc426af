"""log.sinks: the user's own sinks by `_target_`, and the built-in CSV sink."""
import csv

import pytest
from eco_tasks import LADDER, QUICK, BlobsTask

import orchestrator
from orchestrator.errors import ConfigError


class Remembering:
    """A user's sink, e.g. the shape of an MLflow logger: keeps the events it is sent."""

    seen: list = []

    def __init__(self, prefix: str):
        self.prefix = prefix

    def evaluated(self, stage, iteration, metrics, samples):
        Remembering.seen.append((self.prefix + stage.name, iteration, metrics["train/acc"]))

    def finished(self, ladder, status, run_dir, extra, decisions):
        Remembering.seen.append(("finished", status))


def test_a_csv_sink_and_a_users_sink_get_the_run(tmp_path):
    sinks = [{"_target_": "orchestrator.csvsink.CsvSink"},
             {"_target_": "test_ecosystem_sinks.Remembering", "prefix": "p/"}]
    result = orchestrator.run(BlobsTask(), ladder=LADDER, overrides={**QUICK, "log.sinks": sinks},
                              run_dir=tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert set(rows[0]) == {"stage", "iteration", "name", "value"}
    acc = [r for r in rows if r["stage"] == "all" and r["name"] == "train/acc"]
    assert int(acc[-1]["iteration"]) == result["all"].iterations and float(acc[-1]["value"]) >= 1.0
    assert {r["name"] for r in rows} >= {"train/loss", "lr", "grad_norm", "train/acc"}
    assert ("finished", "converged") in Remembering.seen
    assert any(name == "p/few" for name, *_ in Remembering.seen)


@pytest.mark.parametrize("sinks, says", [
    ([{"_target_": "nowhere.Sink"}], "log.sinks[0]._target_: cannot import 'nowhere.Sink'"),
    (["csv"], "log.sinks[0]: a sink is {_target_: module.Class"),
])
def test_a_bad_sink_is_refused_before_the_run(tmp_path, sinks, says):
    with pytest.raises(ConfigError, match=None) as e:
        orchestrator.run(BlobsTask(), ladder=LADDER, overrides={**QUICK, "log.sinks": sinks}, run_dir=tmp_path / "r")
    assert says in str(e.value) and not (tmp_path / "r").exists()
