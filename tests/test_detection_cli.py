"""The detection ladder end to end through the CLI, shrunk to seconds; a malformed box file in one line."""
from __future__ import annotations

from conftest import cli, events, ladder_json, stage_run

TINY = ["+task=detection", "task.train_images=80", "task.val_images=24", "task.test_images=8", "task.width=8",
        "task.train_eval_images=16", "task.report_images=4", "knobs.subset.hard=80", "ladder.eval_every=10",
        "ladder.budget=30", "ladder.min_budget=30", "ladder.max_insertions=0", "ladder.patience=100",
        "ladder.stages.overfit_100.knobs.subset=20", "log.console=false"]


def test_cli_runs_the_detection_ladder(run_dir):
    # goals any model meets: the test is the wiring (stages, warm starts, pictures, report), not the learning
    done = cli(*TINY, "ladder.stages.overfit_10.goal.target=0", "ladder.stages.overfit_100.goal.target=0",
               "ladder.stages.count.goal.target=0", "ladder.stages.detect_one.goal.target=0",
               "ladder.stages.detect.goal.target=0", run_dir=run_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = ladder_json(run_dir)
    assert [s["name"] for s in doc["stages"]] == ["overfit_10", "overfit_100", "count", "detect_one", "detect"]
    assert [s["knobs"]["variant"] for s in doc["stages"]] == ["detect", "detect", "count", "detect", "detect"]
    assert doc["status"] == "converged"
    # every stage warm-starts all of its tensors: one architecture at every knob setting
    assert not any(d["code"] == "warm_start_partial" for s in doc["stages"] for d in s["diagnoses"])
    report = (run_dir / "report.md").read_text()
    assert "## Test metrics (detect)" in report and "| test/map50 |" in report
    assert "](report_images/Test_images" in report
    assert list((run_dir / "report_images").glob("Test_images*.png"))
    tags = events(stage_run(run_dir, "detect")).Tags()["images"]
    assert {"val/true_boxes", "val/predicted_boxes", "val/count_confusion"} <= set(tags)
    assert any(t.startswith("final/Test images") for t in events(run_dir / "tb" / "ladder").Tags()["images"])


def test_cli_reports_a_malformed_box_file_in_one_line(tmp_path, run_dir):
    bad = tmp_path / "boxes.csv"
    bad.write_text("image,x_min,y_min,x_max,y_max,label\na.png,1,2,3\n")
    done = cli(*TINY, f"task.data_path={bad}", run_dir=run_dir)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2: expected 6 fields" in lines[0] and str(bad) in lines[0]
    assert "Traceback" not in done.stderr
