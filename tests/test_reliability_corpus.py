"""A corpus of bad configurations and damaged run states, each through the CLI as a user would run it.

Every case must end in exit code 2 and exactly one line on stderr, `error: <file or "command line">:
<key>: <problem>`, containing the expected text, with nothing written: no run directory for a bad
config, and an unchanged run directory for a damaged state. The cases run two at a time (the CLI
starts in ~2 s); one test runs them all and lists every case that failed.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from conftest import TESTS, cli, forked_cli, toy

BAD = TESTS / "bad_configs"
CL = "command line: "

# (override typed on the command line, expected text of the line after "error: ")
OVERRIDES = [
    ("ladder.budget=lots", CL + "ladder.budget: Value 'lots' of type 'str' could not be converted to Integer"),
    ("ladder.budgett=10", CL + "ladder.budgett: unknown key (did you mean ladder.budget?)"),
    ("+optim.foo=1", CL + "optim.foo: unknown key"),
    ("+ladder.stages.easy.foo=1", CL + "ladder.stages.easy.foo: unknown key"),
    ("+knobs.level.zap=1", CL + "knobs.level.zap: unknown key"),
    ("+diagnostics.typo=1", CL + "diagnostics.typo: unknown key"),
    ("ladder.budget=[", CL + "ladder.budget: cannot parse 'ladder.budget=['"),
    ("optim=3", CL + "optim: Invalid type assigned"),
    ("seed=abc", CL + "seed: Value 'abc' of type 'str' could not be converted to Integer"),
    ("resume=maybe", CL + "resume: Value 'maybe' is not a valid bool"),
    ("ladder.stages.easy.probe=perhaps", CL + "ladder.stages.easy.probe: Value 'perhaps' is not a valid bool"),
    ("ladder.stages.easy.lr=abc", CL + "ladder.stages.easy.lr: Value 'abc' of type 'str' could not be converted to Float"),
    ("optim.batch_size=0", CL + "optim.batch_size: must be > 0, got 0"),
    ("optim.batch_size=-3", CL + "optim.batch_size: must be > 0, got -3"),
    ("ladder.stages.easy.batch_size=0", CL + "ladder.stages.easy.batch_size: must be > 0, got 0"),
    ("ladder.stages.easy.lr=0", CL + "ladder.stages.easy.lr: must be > 0, got 0"),
    ("ladder.stages.easy.lr=-1", CL + "ladder.stages.easy.lr: must be > 0, got -1"),
    ("device=cuda", CL + "device: 'cuda': this machine has no usable CUDA GPU"),
    ("device=cuda:7", CL + "device: 'cuda:7': this machine has"),
    ("device=nonsense", CL + "device: unknown device 'nonsense'"),
    ("device=tpu", CL + "device: unknown device 'tpu'"),
    ("optim.clip_norm=-1", CL + "optim.clip_norm: must be >= 0"),
    ("optim.lr=0", CL + "optim.lr: must be > 0, got 0"),
    ("optim.lr=-0.1", CL + "optim.lr: must be > 0, got -0.1"),
    ("optim.lr=inf", CL + "optim.lr: must be > 0, got inf"),
    ("optim.name=adamax", CL + "optim.name: unknown optimizer 'adamax'"),
    ("optim.momentum=-1", CL + "optim.momentum: must be >= 0"),
    ("optim.weight_decay=-1", CL + "optim.weight_decay: must be >= 0"),
    ("optim.init_scale=0", CL + "optim.init_scale: must be > 0"),
    ("knobs.level.easy=1000", CL + "knobs.level: easy and hard are the same value (1000)"),
    ("ladder.stages.easy.knobs.level=5000", CL + "ladder.stages.easy.knobs.level: 5000 is past the knob's hard end (1000)"),
    ("ladder.stages.easy.knobs.level=abc", CL + "ladder.stages.easy.knobs.level: 'abc' is not a number"),
    ("ladder.stages.easy.knobs.level=-5", CL + "ladder.stages.easy.knobs.level: -5: a log-scale knob needs a positive value"),
    ("knobs.level.scale=cubic", CL + "knobs.level.scale: unknown scale 'cubic'"),
    ("knobs.level.easy=-1", CL + "knobs.level: a log-scale knob needs positive easy and hard values"),
    ("ladder.growth=0", CL + "ladder.growth: must be > 0, got 0"),
    ("ladder.min_budget=0", CL + "ladder.min_budget: must be > 0, got 0"),
    ("ladder.eval_every=0", CL + "ladder.eval_every: must be > 0, got 0"),
    ("ladder.budget=-5", CL + "ladder.budget: must be > 0, got -5"),
    ("ladder.patience=-1", CL + "ladder.patience: must be >= 0, got -1"),
    ("ladder.max_insertions=-1", CL + "ladder.max_insertions: must be >= 0, got -1"),
    ("ladder.min_delta=-1", CL + "ladder.min_delta: must be >= 0"),
    ("log.every=0", CL + "log.every: must be > 0, got 0"),
    ("log.histograms_every=-1", CL + "log.histograms_every: must be >= 0"),
    ("log.checkpoint_secs=-1", CL + "log.checkpoint_secs: must be >= 0"),
    ("ladder.stages.middle.after=[nope]", CL + "ladder.stages.middle.after: unknown predecessor 'nope'"),
    ("ladder.stages.easy.after=[hard]", CL + "ladder.stages: the stages form a cycle"),
    ("ladder.stages.easy.goal.metric=val/nope", CL + "ladder.stages.easy.goal.metric: unknown metric 'val/nope'"),
    ("ladder.stages.easy.goal.mode=up", CL + "ladder.stages.easy.goal.mode: 'up' is neither 'min' nor 'max'"),
    ("ladder.stages.easy.goal.target=nan", CL + "ladder.stages.easy.goal.target: must be a finite number"),
    ("ladder.stages.easy.budget=0", CL + "ladder.stages.easy.budget: budget must be > 0, got 0"),
    ("ladder.stages.middle.init_from=hard", CL + "ladder.stages.middle.init_from: 'hard' does not run before 'middle'"),
    ("ladder.stages.middle.init_from=nope", CL + "ladder.stages.middle.init_from: unknown stage 'nope'"),
    ("task._target_=nope.Task", CL + "task._target_: cannot build 'nope.Task': No module named 'nope'"),
    ("diagnostics.probe.margin=20", CL + "diagnostics.probe.margin: must be between 1 and 10"),
    ("diagnostics.probe.factor=1", CL + "diagnostics.probe.factor: must be > 1"),
    ("diagnostics.health.every=-1", CL + "diagnostics.health.every: must be >= 0"),
]

# (task file in tests/bad_configs/task, expected text after "error: <its path>")
FILES = [
    ("yaml_syntax", ":18: YAML syntax error: expected ',' or ']'"),
    ("yaml_tab", ":8: YAML syntax error: found character '\\t' that cannot start any token"),
    ("yaml_duplicate_colon", ":8: YAML syntax error: mapping values are not allowed here"),
    ("wrong_type", ": ladder.budget: Value 'lots' of type 'str' could not be converted to Integer"),
    ("typo_key", ": ladder.budgett: unknown key 'budgett' (did you mean ladder.budget?)"),
    ("unknown_optim_key", ": optim.betas: unknown key 'betas'"),
    ("unknown_stage_key", ": ladder.stages.hard.retries: unknown key 'retries'"),
    ("stage_name_dotdot", ": ladder.stages.../evil: '../evil' is not a valid stage name"),
    ("stage_name_slash", ": ladder.stages.sub/dir: 'sub/dir' is not a valid stage name"),
    ("stage_name_backslash", ": ladder.stages.a\\b: 'a\\\\b' is not a valid stage name"),
    ("stage_name_at", ": ladder.stages.hard@2: 'hard@2' is not a valid stage name"),
    ("stage_name_space", ": ladder.stages.hard one: 'hard one' is not a valid stage name"),
    ("stage_batch_size_zero", ": ladder.stages.hard.batch_size: must be > 0, got 0"),
    ("stage_lr_negative", ": ladder.stages.hard.lr: must be > 0, got -0.1"),
    ("knob_easy_equals_hard", ": knobs.level: easy and hard are the same value (1000)"),
    ("knob_past_hard", ": ladder.stages.easy.knobs.level: 5000 is past the knob's hard end (1000)"),
    ("knob_not_a_number", ": ladder.stages.easy.knobs.level: 'ten' is not a number"),
    ("clip_norm_negative", ": optim.clip_norm: must be >= 0"),
    ("batch_size_zero", ": optim.batch_size: must be > 0, got 0"),
    ("no_target", ": task._target_: the task needs a _target_ naming its class"),
    ("ladder_not_a_mapping", ": Merge error: int is not a subclass of LadderConfig"),
    ("goal_missing", ": ladder.stages.easy.goal: Structured config of type `StageConfig` has missing mandatory value: goal"),
    ("device_unknown", ": device: unknown device 'gpu0'"),
    ("categorical_without_values", ": knobs.kind.easy: 'a' is not one of values []"),
    ("unknown_metric", ": ladder.stages.hard.goal.metric: unknown metric 'val/acc'"),
    ("unknown_task_class", ": task._target_: cannot build 'toy_task.NoSuchTask'"),
    ("task_bad_argument", ": task._target_: cannot build 'toy_task.ToyTask': ToyTask.__init__() got an unexpected keyword"),
]


def _doc_edit(edit):
    def mutate(run_dir: Path):
        doc = json.loads((run_dir / "ladder.json").read_text())
        doc["status"] = "running"
        edit(doc)
        (run_dir / "ladder.json").write_text(json.dumps(doc))
    return mutate


def _write(name: str, data: bytes):
    def mutate(run_dir: Path):
        (run_dir / name).write_bytes(data)
    return mutate


def _stage(stage: str, **fields):
    def edit(doc):
        for s in doc["stages"]:
            if s["name"] == stage:
                s.update(fields)
    return edit


def _warm_start_file(mutation):
    """`hard` waits to run (warm-starting from middle), and middle's final.pt is damaged by `mutation`."""
    def mutate(run_dir: Path):
        _doc_edit(_stage("hard", status="pending"))(run_dir)
        mutation(run_dir / "checkpoints" / "middle" / "final.pt")
    return mutate


class Payload:
    def __reduce__(self):
        return (print, ("unpickled!",))


LADDER = "ladder.json: "
FINAL = "checkpoints/middle/final.pt: "
# (name, mutation of a finished toy run, expected text after "error: <run dir>/")
STATES = [
    ("garbage", _write("ladder.json", b"{not json"), LADDER + "not valid JSON"),
    ("empty", _write("ladder.json", b""), LADDER + "not valid JSON"),
    ("binary", _write("ladder.json", b"\xff\xfe\x00garbage"), LADDER + "not valid JSON"),
    ("truncated", lambda d: (d / "ladder.json").write_text((d / "ladder.json").read_text()[:200]),
     LADDER + "not valid JSON"),
    ("a list", _write("ladder.json", b"[]"), LADDER + "not a ladder.json"),
    ("bad status", _doc_edit(lambda doc: doc.update(status="bogus")), LADDER + "status: 'bogus'"),
    ("no stages", _doc_edit(lambda doc: doc.update(stages=[])), LADDER + "stages: not a non-empty list"),
    ("decisions not a list", _doc_edit(lambda doc: doc.update(decisions=3)), LADDER + "decisions: not a list"),
    ("stage without goal", _doc_edit(lambda doc: doc["stages"][0].pop("goal")), LADDER + "stages[0]: missing goal"),
    ("stage name ..", _doc_edit(_stage("hard", name="../evil")), LADDER + "stages[2].name: '../evil' is not a valid"),
    ("stage name /", _doc_edit(_stage("hard", name="/tmp/evil")), LADDER + "stages[2].name: '/tmp/evil' is not a valid"),
    ("iterations a string", _doc_edit(_stage("easy", iterations="many")),
     LADDER + "stages[0].iterations: 'many' has the wrong type"),
    ("negative iterations", _doc_edit(_stage("easy", iterations=-4)), LADDER + "stages[0]: negative iterations"),
    ("attempts a bool", _doc_edit(_stage("easy", attempts=True)), LADDER + "stages[0].attempts: True has the wrong type"),
    ("unknown predecessor", _doc_edit(_stage("middle", after=["nope"])), LADDER + "stages[1].after: names a stage"),
    ("duplicate names", _doc_edit(_stage("middle", name="easy")), LADDER + "stages: a name appears twice"),
    ("stage status", _doc_edit(_stage("easy", status="weird")), LADDER + "stages[0].status: 'weird' is not one of"),
    ("goal with an extra key", _doc_edit(lambda doc: doc["stages"][0]["goal"].update(extra=1)),
     LADDER + "stages[0].goal: not a goal"),
    ("cycle", _doc_edit(_stage("easy", after=["hard"])), LADDER + "cannot rebuild the ladder"),
    ("knobs a list", _doc_edit(_stage("easy", knobs=[1])), LADDER + "stages[0].knobs: [1] has the wrong type"),
    ("missing final.pt", _warm_start_file(lambda p: p.unlink()),
     FINAL + "missing, but stage 'hard' warm-starts from it"),
    ("garbage final.pt", _warm_start_file(lambda p: p.write_bytes(b"garbage")),
     FINAL + "unreadable checkpoint: truncated or not a checkpoint"),
    ("truncated final.pt", _warm_start_file(lambda p: p.write_bytes(p.read_bytes()[:300])),
     FINAL + "unreadable checkpoint: truncated or not a checkpoint"),
    ("pickle payload in final.pt", _warm_start_file(lambda p: torch.save({"model": Payload()}, p)),
     FINAL + "unreadable checkpoint: it holds objects other than tensors"),
    ("final.pt without weights", _warm_start_file(lambda p: torch.save({"iteration": 3}, p)),
     FINAL + "holds no model weights"),
]

QUICK = ["knobs.level.hard=300", "log.console=false"]


def snapshot(run_dir: Path) -> dict:
    """Every file's bytes, but the lock file's (its holder line is rewritten by each run that takes it)."""
    return {p: p.read_bytes() for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != "run.lock"}


def forked_toy(*args: str, run_dir: Path):
    """The toy task's run, forked (conftest.forked_cli): the corpus is a hundred runs that end in a second each."""
    return forked_cli("--config-dir", str(TESTS / "conf"), "+task=toy", *args, run_dir=run_dir)


def check(r, expected: str, nothing_written) -> str:
    """'' when the case behaved, else what went wrong."""
    lines = r.stderr.strip().splitlines()
    if r.returncode != 2:
        return f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
    if len(lines) != 1:
        return f"{len(lines)} lines: {r.stderr.strip()[:300]}"
    if not lines[0].startswith("error: ") or expected not in lines[0]:
        return f"wrong line: {lines[0]}"
    if "Traceback" in r.stdout or "weights_only=False" in r.stderr or "unpickled!" in r.stdout:
        return "a traceback, a pickle run, or torch's advice to unpickle"
    return nothing_written()


def run_override(case, tmp: Path) -> str:
    override, expected = case
    run_dir = tmp / "run"
    args = [override] if not override.startswith("+task=") else []
    r = forked_toy(*args, run_dir=run_dir)
    return check(r, expected, lambda: f"wrote {run_dir}" if run_dir.exists() else "")


def run_file(case, tmp: Path) -> str:
    name, expected = case
    run_dir = tmp / "run"
    r = forked_cli("--config-dir", str(BAD), f"+task={name}", run_dir=run_dir)
    path = BAD / "task" / f"{name}.yaml"
    return check(r, f"{path}{expected}", lambda: f"wrote {run_dir}" if run_dir.exists() else "")


def run_state(case, finished: Path, tmp: Path) -> str:
    name, mutate, expected = case
    run_dir = tmp / "run"
    shutil.copytree(finished, run_dir)
    mutate(run_dir)
    before = snapshot(run_dir)
    r = forked_toy(*QUICK, run_dir=run_dir)
    return check(r, f"{run_dir}/{expected}", lambda: "" if snapshot(run_dir) == before else "the run directory changed")


def small_corpus(tmp: Path) -> str:
    """12 pairs of 8-word sentences: overfit_10 (max_len 5) has no training pair; found before any writing."""
    corpus = tmp / "pairs.tsv"
    corpus.write_text("".join(" ".join(f"w{i}{j}" for j in range(8)) + "\t" + " ".join(f"v{i}{j}" for j in range(8))
                              + "\n" for i in range(12)))
    r = forked_cli("+task=translation", f"task.data_path={corpus}", run_dir=tmp / "run")
    expected = (f"translation.yaml: ladder.stages.overfit_10.knobs.max_len: stage 'overfit_10': no training pair "
                f"has a source of at most 5 words (in the corpus {corpus})")
    return check(r, expected, lambda: "wrote" if (tmp / "run").exists() else "")


def test_the_corpus_of_bad_configs_and_states(tmp_path):
    finished = tmp_path / "finished"
    r = toy(*QUICK, run_dir=finished)
    assert r.returncode == 0, r.stderr
    jobs = [(f"override {c[0]}", run_override, (c,)) for c in OVERRIDES]
    jobs += [(f"file {c[0]}", run_file, (c,)) for c in FILES]
    jobs += [(f"state {c[0]}", run_state, (c, finished)) for c in STATES]
    jobs.append(("unknown task", lambda tmp: check(cli("+task=nope", run_dir=tmp / "run"),
                                                   CL + "task: no task named 'nope' (the choices: ",
                                                   lambda: "wrote" if (tmp / "run").exists() else ""), ()))
    jobs.append(("no task", lambda tmp: check(cli(run_dir=tmp / "run"), CL + "task: no task chosen: add +task=NAME",
                                              lambda: "wrote" if (tmp / "run").exists() else ""), ()))

    jobs.append(("translation corpus too small for a stage", small_corpus, ()))

    def one(i_job):
        i, (name, fn, args) = i_job
        tmp = tmp_path / f"case{i}"
        tmp.mkdir()
        return name, fn(*args, tmp)

    # one at a time: each case is a process forked from this one (a fork from one thread while another forks
    # could inherit a lock held mid-fork); the two "task" cases above are real interpreters, `python -m orchestrator`
    results = [one(job) for job in enumerate(jobs)]
    failed = [f"{name}: {problem}" for name, problem in results if problem]
    print(f"{len(jobs)} cases, {len(jobs) - len(failed)} behaved")
    assert len(jobs) >= 60
    assert not failed, "\n".join(failed)
