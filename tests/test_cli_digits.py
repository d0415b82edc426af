"""End to end, as a user runs it: the digits ladder through the CLI, its outputs read back."""
import json

from conftest import cli, events, ladder_json, stage_run


def test_digits_ladder_converges_and_leaves_everything_behind(run_dir):
    r = cli("+task=digits", run_dir=run_dir)
    assert r.returncode == 0, r.stderr
    doc = ladder_json(run_dir)
    assert doc["task"] == "digits" and doc["status"] == "converged"
    assert [s["name"] for s in doc["stages"]] == ["overfit_10", "overfit_100", "full"]
    for s in doc["stages"]:
        assert s["status"] == "converged" and 0 < s["iterations"] <= s["budget"]
        assert set(s) >= {"name", "after", "knobs", "inserted", "status", "budget", "iterations", "goal",
                          "best", "lr", "diagnoses"}
    full = doc["stages"][-1]
    assert full["knobs"] == {"subset": 1437} and full["best"] >= 0.95
    assert full["budget"] == max(200, 10 * doc["stages"][1]["iterations"])  # the growth rule
    assert [d["kind"] for d in doc["decisions"]] == ["advance"] * 3

    # one TensorBoard run per stage with the training curve and the goal metric
    for s in doc["stages"]:
        tags = events(stage_run(run_dir, s["name"])).Tags()
        assert {"train/loss", "lr", "grad_norm", s["goal"]["metric"]} <= set(tags["scalars"])
        assert not any("weights/" in t for t in tags["histograms"])  # per-parameter ones only when asked
        assert "hparam/goal_value" in tags["scalars"]
    acc = events(stage_run(run_dir, "full"))
    steps = [e.step for e in acc.Scalars("val/acc")]
    assert steps == sorted(set(steps)) and steps[-1] == full["iterations"]
    # the ladder itself: an image, the stage table and the decisions
    ladder = events(run_dir / "tb" / "ladder")
    assert "ladder" in ladder.Tags()["images"]
    assert {"stages/text_summary", "decisions/text_summary"} <= set(ladder.Tags()["tensors"])

    assert (run_dir / "checkpoints" / "full" / "final.pt").exists()
    report = (run_dir / "report.md").read_text()
    assert "converged" in report and "| full |" in report
    assert "ladder converged" in r.stdout


def test_same_seed_same_metrics(tmp_path):
    runs = []
    for i in range(2):
        d = tmp_path / f"run{i}"
        assert cli("+task=digits", "ladder.stages.full.goal.target=0.97", run_dir=d).returncode in (0, 3)
        runs.append(d)
    a, b = (ladder_json(d) for d in runs)
    assert [(s["iterations"], s["best"]) for s in a["stages"]] == [(s["iterations"], s["best"]) for s in b["stages"]]
    curve = [[e.value for e in events(stage_run(d, "full")).Scalars("train/loss")] for d in runs]
    assert curve[0] == curve[1]


def test_forced_insertion_shows_in_ladder_json_and_the_image(run_dir):
    # a tiny growth budget leaves overfit_100 too few iterations: an intermediate stage goes in
    r = cli("+task=digits", "ladder.growth=0.4", "ladder.min_budget=5", "ladder.eval_every=5",
            "search.trials=0", run_dir=run_dir)  # insertions only: search decisions are tested on their own
    doc = ladder_json(run_dir)
    inserted = [s for s in doc["stages"] if s["inserted"]]
    assert inserted, json.dumps(doc["decisions"], indent=1)
    first = inserted[0]
    assert first["knobs"]["subset"] < 1437
    assert any(d["kind"] == "insert" and d.get("new_stage") == first["name"] for d in doc["decisions"])
    assert r.returncode == (0 if doc["status"] == "converged" else 3)
    images = events(run_dir / "tb" / "ladder").Images("ladder")
    assert len(images) == 2 * len(doc["decisions"])  # drawn at every stage start and decision


def test_a_stage_failing_at_the_probes_lr_is_retried_at_the_far_end_of_its_range(run_dir):
    # LR 50 is lowered by the probe to threshold/3; overfit_100 (2 iterations: it must fail) is retried once
    # at threshold/10, the LR it keeps from then on, from overfit_10 (whose weights it warm-starts from came
    # from the probe's LR too); with no insertion or search left the ladder stops
    r = cli("+task=digits", "optim.lr=50", "ladder.stages.overfit_100.budget=2", "ladder.eval_every=1",
            "ladder.max_insertions=0", "search.trials=0", run_dir=run_dir)
    assert r.returncode == 3, r.stderr
    doc = ladder_json(run_dir)
    probe = next(d for d in doc["stages"][0]["diagnoses"] if d["code"] == "lr_too_high")["evidence"]
    threshold = probe["threshold"]
    assert abs(probe["lr"] - threshold / 3) < 1e-9 * threshold
    assert [(d["kind"], d["stage"]) for d in doc["decisions"]] == [
        ("advance", "overfit_10"), ("retry", "overfit_100"), ("advance", "overfit_10"), ("stop", "overfit_100")]
    retry = doc["decisions"][1]
    assert abs(retry["lr"] - threshold / 10) < 1e-9 * threshold and "far end" in retry["reason"]
    assert retry["restart"] == ["overfit_10", "overfit_100"]
    for s in doc["stages"][:2]:
        assert s["attempts"] == 2 and s["lr"] == retry["lr"]
    # each attempt is a TensorBoard run of its own, the second at the lower LR
    for name in ("overfit_10", "overfit_100"):
        lrs = [events(stage_run(run_dir, name, a)).Scalars("lr")[-1].value for a in (1, 2)]
        assert abs(lrs[0] - threshold / 3) < 1e-3 * threshold and abs(lrs[1] - threshold / 10) < 1e-3 * threshold
