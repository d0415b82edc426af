"""search.space: distributions, the default space around the LR probe's threshold, applying a trial."""
import optuna
import pytest

from orchestrator.config import RunConfig
from orchestrator.errors import ConfigError
from orchestrator.search import space
from conftest import cli


def test_flat_and_nested_spaces_give_the_same_dimensions():
    flat = space.parse({"optim.lr": {"log_uniform": [1e-4, 1e-1]}, "task.hidden": {"int": [16, 64]},
                        "optim.name": {"choice": ["adam", "sgd"]}, "optim.decay.after": {"uniform": [1, 3]}})
    nested = space.parse({"optim": {"lr": {"log_uniform": [1e-4, 1e-1]}, "name": {"choice": ["adam", "sgd"]},
                                    "decay": {"after": {"uniform": [1, 3]}}}, "task": {"hidden": {"int": [16, 64]}}})
    assert sorted(d.key for d in flat) == sorted(d.key for d in nested) == \
        ["optim.decay.after", "optim.lr", "optim.name", "task.hidden"]


@pytest.mark.parametrize("bad, words", [
    ({"optim.lr": {"log_uniform": [0, 1]}}, "low > 0"),
    ({"optim.lr": {"uniform": [1, 1]}}, "low < high"),
    ({"optim.lr": {"normal": [0, 1]}}, "expected one of"),
    ({"optim.decay": {"uniform": [0, 1]}}, "cannot be searched"),
    ({"seed": {"int": [0, 9]}}, "cannot be searched"),
    ({"task._target_": {"choice": ["x"]}}, "cannot be searched"),
])
def test_a_bad_space_is_refused_naming_the_key(bad, words):
    with pytest.raises(ConfigError) as e:
        space.parse(bad)
    assert words in e.value.message and e.value.key.startswith("search.space.")


def test_default_space_is_lr_up_to_the_nan_threshold_times_init_scale():
    lr, scale = space.default(0.3, lr=1e-5)
    assert (lr.key, lr.kind) == ("optim.lr", "log_uniform") and lr.values == pytest.approx((0.003, 0.3))
    assert (scale.key, scale.values) == ("optim.init_scale", (0.5, 2.0))
    lr, _ = space.default(None, lr=0.01)  # no probe ran: around the stage's LR
    assert lr.values[0] < 0.01 < lr.values[1]
    assert [d.key for d in space.default(0.3, lr=1e-5, init=False)] == ["optim.lr"]  # the LR named alone


def test_the_init_scale_is_searched_only_for_a_stage_trained_from_fresh_weights():
    from orchestrator.ladder import Goal, Ladder, Stage
    from orchestrator.search.driver import default_space
    goal = Goal("train/acc", 1.0, "max")
    ladder = Ladder([Stage("first", goal, {}), Stage("second", goal, {}, after=("first",))])
    first, second = ladder["first"], ladder["second"]
    assert [d.key for d in default_space(ladder, first, 1e-3, None)] == ["optim.lr", "optim.init_scale"]
    # warm-started: its weights are the predecessor's, which a scale of fresh weights would not touch
    assert [d.key for d in default_space(ladder, second, 1e-3, "first")] == ["optim.lr"]
    first.cause = {"code": "lr_too_low"}  # the LR named alone
    assert [d.key for d in default_space(ladder, first, 1e-3, None)] == ["optim.lr"]


def test_seeded_random_samples_stay_inside_the_space_and_repeat():
    dims = space.default(0.1, lr=1e-3)

    def draw(seed):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        return [{d.key: d.suggest(study.ask()) for d in dims} for _ in range(20)]
    first = draw(1)
    assert first == draw(1) and first != draw(2)
    assert all(0.001 <= p["optim.lr"] <= 0.1 and 0.5 <= p["optim.init_scale"] <= 2 for p in first)


def test_a_trial_setting_applies_to_a_copy_of_the_config():
    cfg = RunConfig(task={"_target_": "x.Y", "hidden": 8})
    out = space.apply(cfg, {"optim.lr": 0.5, "optim.decay.after": 2.0, "task.hidden": 32})
    assert (out.optim.lr, out.optim.decay.after, out.task["hidden"]) == (0.5, 2.0, 32)
    assert (cfg.optim.lr, cfg.optim.decay.after, cfg.task["hidden"]) == (1e-3, None, 8)


def test_bad_search_settings_are_one_line_before_any_training(tmp_path):
    r = cli("+task=digits", "search.executor=spark", run_dir=tmp_path / "run")
    assert r.returncode == 2 and "search.executor" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_stage_asks_for_its_own_search_and_its_settings_are_checked():
    from orchestrator.config import GoalConfig, StageConfig
    from orchestrator.ladder import from_config
    from orchestrator.search import validate
    from orchestrator.search.driver import settings

    cfg = RunConfig(task={"_target_": "x.Y"}, task_file="task/mine.yaml")
    cfg.ladder.stages = {"only": StageConfig(goal=GoalConfig("train/loss", 0.1, "min"), search={"trials": 3})}
    ladder, _ = from_config(cfg.ladder.stages, {}, ("train/loss",))
    assert ladder["only"].search == {"trials": 3}
    merged = settings(cfg, ladder["only"])
    assert (merged.trials, merged.parallel, merged.sampler) == (3, 0, "random")
    validate(cfg)
    cfg.ladder.stages["only"].search = {"trails": 3}
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert e.value.key == "ladder.stages.only.search.trails" and "unknown search setting" in e.value.message
    cfg.ladder.stages["only"].search = {"parallel": -1}
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert e.value.key == "ladder.stages.only.search.parallel"
