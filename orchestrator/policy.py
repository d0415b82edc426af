"""The one place where the ladder's next move is decided: advance, skip, fallback, retry, insert, search or stop."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .knobs import Knob, intermediate
from .ladder import CONVERGED, PENDING, Ladder, Stage

ADVANCE, RETRY, INSERT, SEARCH, STOP = "advance", "retry", "insert", "search", "stop"
SKIP, FALLBACK = "skip", "fallback"  # a fallback stage passed over; the skipped ones trained after all
# a stage whose most likely cause is one of these errors is never searched, even when the ranking calls
# it a symptom: the LR probe keeps the LR below the NaN threshold, so a NaN left is a bug, and a trial that
# happens to stop before it only hides it
NOT_TUNED_AWAY = ("nonfinite", "unstable_softmax", "division_by_zero", "log_of_zero")
# the only warnings (or errors) a stage is searched for unasked: what the LR, the init scale or clipping
# fix. Any other named cause (frozen weights, labels, leakage, a saturating init, ...) is a fault to fix
# first, and searching around it would cost 16 trials of the stage's budget before saying so.
TUNABLE = ("lr_too_low", "lr_too_high", "exploding_gradients", "vanishing_gradients", "overfit_batch_size_1",
           "lr_probe")


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a stage ended."""

    converged: bool
    iterations: int          # iterations trained (to convergence, if it converged)
    best: Optional[float]    # best value of the goal metric seen
    reason: str              # e.g. "goal met: val/acc 0.96 >= 0.95"


@dataclass(frozen=True)
class Decision:
    kind: str                # ADVANCE, SKIP, FALLBACK, RETRY, INSERT, SEARCH or STOP
    stage: str               # the stage that was judged
    reason: str
    lr: Optional[float] = None       # RETRY: the LR the stage trains at from now on
    restart: tuple = ()              # RETRY: the stages trained again at `lr`; FALLBACK: the skipped ones
    batch_size: Optional[int] = None  # RETRY: the batch size the stage, and the stages after it, train at from now on
    #                                  trained now; in run order
    new_stage: Optional[str] = None  # INSERT: the name of the intermediate stage
    knobs: Optional[dict] = None     # INSERT: its knob values
    after: Optional[str] = None      # INSERT: the converged stage it sits after


def budget_for(stage: Stage, ladder: Ladder, budget: int, growth: float, min_budget: int) -> int:
    """First stages get `budget`; later ones growth x what their predecessors needed."""
    if stage.budget_override is not None:
        return stage.budget_override
    if not stage.after:
        return budget
    needed = max(ladder[p].iterations for p in ladder.through_skipped(stage.after))
    return max(min_budget, int(round(growth * needed)))


def before_training(ladder: Ladder, stage: Stage) -> Optional[Decision]:
    """SKIP for a fallback stage no failure has called; None: train the stage.

    The ladder's worth is in the stages that find what does not train; when the hard stage trains anyway,
    an easier sub-problem before it only costs iterations (translation: the two sub-problems took ~130 of
    the ladder's ~550, and the last stage, warm-started from them, needed as many iterations as from
    scratch). A stage marked `fallback` is therefore held back until a stage after it fails (FALLBACK)."""
    if stage.fallback and not stage.called and stage.status == PENDING:
        return Decision(SKIP, stage.name, "a fallback stage: trained only if a stage after it fails without it")
    return None


def decide(ladder: Ladder, stage: Stage, outcome: Outcome, knobs: Mapping[str, Knob],
           max_insertions: int, search: Optional[Any] = None, stop_on_bug: bool = True) -> Decision:
    """`search`: the run's SearchConfig; None (or search.trials=0 for the stage) never searches.

    A stage that met its goal advances, unless the diagnostics found a bug in it (`stop_on_bug`, see `_bug`):
    a goal met on a broken model says nothing about the harder stages, and climbing them only delays the verdict
    (benchmarks/holdout8's xattn/positions_made_in_forward: params_not_updating at the first stage's start, then
    two more stages and 137 s before the ladder stopped on the same error).

    A failed stage with fallback stages skipped before it trains them first (FALLBACK), then itself again.
    A failed stage that trained at the LR probe's pick is first retried at the far end of the method's
    range below the NaN threshold; then it gets an intermediate stage when one can help (not when its most
    likely cause is `lr_too_low` thousands of times below that threshold: it is searched at once); else it is
    searched (random trials of its LR and initialisation, orchestrator/search); else the ladder stops.
    A bug is never tuned away.
    """
    trials = _trials_for(stage, search)
    asked = trials > 0 and (stage.search is not None or (search is not None and search.stage == stage.name))
    if stage.trials is not None:  # searched already: the search's outcome is the stage's
        if outcome.converged:
            return Decision(ADVANCE, stage.name, outcome.reason)
        return Decision(STOP, stage.name, f"{outcome.reason}; no trial of the search converged (see its trials)")
    if outcome.converged and not asked:
        bug = _bug(stage) if stop_on_bug else None
        if bug is not None:
            return Decision(STOP, stage.name, f"{outcome.reason}, but the diagnostics found a bug ({bug['code']}, "
                            f"iteration {bug.get('iteration')}): fix it first, the harder stages would only train on "
                            "it (ladder.stop_on_bug=false climbs on)")
        fault = _persisting_fault(ladder, stage) if stop_on_bug else None
        if fault is not None:
            d, where = fault
            return Decision(STOP, stage.name, f"{outcome.reason}, but {d['code']} ({d['severity']}) was there {where}: "
                            "a fault of the weights that outlasted a training which met its goal, and every harder "
                            "stage would inherit it, so fix it first (ladder.stop_on_bug=false climbs on)")
        return Decision(ADVANCE, stage.name, outcome.reason)
    cause = stage.cause or {}
    if cause.get("root") and cause.get("severity") == "error":  # an easier stage would not fix a bug
        return Decision(STOP, stage.name, f"{outcome.reason}; the diagnostics found a bug ({cause['code']}): "
                        "fix it first, an intermediate stage would only hide it")
    if _there_from_the_start(stage, cause):
        return Decision(STOP, stage.name, f"{outcome.reason}; {cause['code']} ({cause['severity']}) was there "
                        "from the stage's first step, before its training could cause it: an intermediate stage "
                        "starts from the same weights and would carry it, so fix it first")
    if _carried_init_fault(ladder, stage, cause):
        return Decision(STOP, stage.name, f"{outcome.reason}; {cause['code']} ({cause['severity']}), found in "
                        f"{cause['stage']}, is a fault of the initial weights, which this stage inherited through its "
                        "warm start: an intermediate stage would inherit them too, so fix it first")
    if cause.get("settings") and not asked:  # (diagnostics/ranking.SETTINGS)
        return Decision(STOP, stage.name, f"{outcome.reason}; {cause['code']} ({cause['severity']}) names the "
                        "optimiser's own settings (a decay of its own, a schedule or its betas), which neither an "
                        "intermediate stage nor a search over the LR changes: fix them first")
    bug = cause.get("severity") == "error" and cause.get("code") in NOT_TUNED_AWAY
    if asked and not bug:
        return _search(stage, outcome, trials, "the stage asks to be searched")
    skipped = ladder.skipped_before(stage.name)
    if skipped:  # the user's own easier stages first: no guess about what is easier
        names = tuple(s.name for s in skipped)
        return Decision(FALLBACK, stage.name, f"{outcome.reason}; training the fallback stage(s) skipped before it "
                        f"({', '.join(names)}), then {stage.name} again, warm-started from them", restart=names)
    retry = _retry_lower(ladder, stage, outcome, cause) or _retry_measured(ladder, stage, outcome, cause)
    if retry is not None:
        return retry
    if trials > 0 and cause.get("code") == "lr_too_low" and _far_below_threshold(stage):
        # easier stages would crawl just as slowly; the search's range (below the threshold) holds the fix
        return _search(stage, outcome, trials, "the diagnostics name lr_too_low, thousands of times below the LR "
                       "probe's NaN threshold: an intermediate stage would train at the same too-small steps, so its "
                       "LR is searched instead")
    why_not = _why_not_insert(ladder, stage, outcome, knobs, max_insertions)
    if isinstance(why_not, Decision):  # an intermediate stage can help
        return why_not
    if trials > 0 and bug:
        return Decision(STOP, stage.name, f"{outcome.reason}; {why_not}; not searched: the diagnostics found "
                        f"{cause['code']} (error), which a search would only hide")
    fault = cause.get("severity") in ("warning", "error") and cause.get("code") not in TUNABLE
    if trials > 0 and fault:
        return Decision(STOP, stage.name, f"{outcome.reason}; {why_not}; not searched: the diagnostics name "
                        f"{cause['code']} ({cause['severity']}), a fault to fix rather than tune around "
                        f"(search.stage={stage.name} searches it anyway)")
    if trials > 0:
        return _search(stage, outcome, trials, why_not)
    if why_not.startswith("the stages inserted"):  # without a search, inserting is still the only move
        return _insert(ladder, stage, outcome, knobs)
    return Decision(STOP, stage.name, f"{outcome.reason}; {why_not}")


def _bug(stage: Stage) -> Optional[dict]:
    """The stage's first error that names a root cause (diagnostics/ranking.py's ROOT: frozen or unregistered
    weights, a leak, batch dependence, ...), found on this stage and not after a fix the orchestrator applied.
    Errors only: a warning (a saturating init, a high LR) may still train, an error is a named bug."""
    from .diagnostics.ranking import ROOT
    return next((d for d in stage.diagnoses if d.get("severity") == "error" and d.get("code") in ROOT
                 and d.get("stage", stage.name) == stage.name and not d.get("after_fix")), None)


def _persisting_fault(ladder: Ladder, stage: Stage) -> Optional[tuple]:
    """(the diagnosis, where it was seen) for a fault of the weights that outlasted this converged stage's training:
    found at its start and again on the weights it trained (`outlasted_training`, startchecks.still_railed), or
    seen at its first step and at the first step of the stage it warm-started from, whose whole training ran on it.
    The harder stages, warm-started from the same weights, would carry it: climbing on only delays the verdict
    (benchmarks/bugsuite's large_init_rnn: saturated_units from the decoder GRU's init, named at 5 s, then the full
    stage's 10000 iterations and 190 s on it before the ladder stopped on the same fault). Not a fault the LR, the
    init scale or clipping fix (a search may still)."""
    outlasted = next((d for d in stage.diagnoses if (d.get("evidence") or {}).get("outlasted_training")
                      and d.get("severity") in ("warning", "error")), None)
    if outlasted is not None:
        return outlasted, "at the stage's start and again at its end, on the weights it trained"
    source = ladder.warm_start_source(stage)
    if source is None:
        return None
    before = {d["code"] for d in ladder[source].diagnoses if _at_first_step(d, source)}
    found = next((d for d in stage.diagnoses if _at_first_step(d, stage.name) and d["code"] in before), None)
    return (found, f"at its first step and at the first step of {source}") if found is not None else None


def _at_first_step(d: dict, stage: str) -> bool:
    """A warning or error of `stage` at its first step, which no LR, init scale, clipping or optimiser setting fixes.
    Not bad_init_loss: on a warm-started stage it judges the weights the task builds afresh, not those it trains."""
    from .diagnostics.ranking import SETTINGS
    return (d.get("stage", stage) == stage and d.get("iteration") is not None and d["iteration"] <= 1
            and d.get("severity") in ("warning", "error") and d.get("code") not in TUNABLE + INIT_FAULTS
            and not d.get("applied") and not SETTINGS & set(d.get("evidence") or {}))


def _retry_lower(ladder: Ladder, stage: Stage, outcome: Outcome, cause: dict) -> Optional[Decision]:
    """The LR probe lowered a too-high LR to threshold / 3, the high end of the method's "train 1-10x below
    the NaN threshold". A normalised net under Adam stays finite far above its best LR, so a stage that then
    fails is retried once at the far end (threshold / 10, the probe's `fallback_lr`) before easier stages or
    a search, and so are the converged stages before it that trained at the probe's LR: their weights, which
    it warm-starts from, came from the high end. In benchmarks/holdout's tfm/lr_1 the high end cost three
    insertions and two searches and the ladder stalled; retrying only the failed stage, warm-started from
    the first stage's weights, needed an insertion; the far end from the start converged every stage.
    Only the probe's own pick is retried (not the user's LR, not a search's), only once, not for a named
    fault that an LR would not fix, and not on a first stage: there nothing warm-started from the high end,
    and its search is as cheap (trials of the smallest problem) and covers the whole range, far end included
    (holdout3's tseq at batch size 1: the search's pick converged sooner than threshold / 10)."""
    if not stage.after:
        return None
    evidence = ladder.probe_evidence(stage) or {}
    picked, fallback = evidence.get("lr"), evidence.get("fallback_lr")
    if not picked or not fallback or stage.lr is not None or not _same(stage.lr_used, picked):
        return None  # trains at an LR the user or a search chose, or was retried already
    if cause.get("severity") in ("warning", "error") and cause.get("code") not in TUNABLE:
        return None
    before = _trained_before_at(ladder, stage, picked)
    return Decision(RETRY, stage.name, f"{outcome.reason}; it trained at the LR probe's pick {_num(picked)}, "
                    f"the high end of 1-10x below the NaN threshold {_num(float(evidence['threshold']))}: "
                    f"retrying at the far end, {_num(fallback)}{_from(before)}", lr=fallback,
                    restart=before + (stage.name,))


def _retry_measured(ladder: Ladder, stage: Stage, outcome: Outcome, cause: dict) -> Optional[Decision]:
    """A later stage whose most likely cause is an LR measured too high (lr_too_high, evidence `lower_lr_fits`: a
    tenth of it fit the stage's examples far better; `loss_climbed`: its own training loss came down and climbed
    back; `settles_lower`: continued at a tenth of it, the stage passed its best) is retried once at that tenth,
    and so are the converged stages before it that trained at the same LR: an intermediate stage would take the
    same too-large steps, and weights warm-started from that LR carried its damage (holdout27's motif at 0.05:
    retried alone at 0.005, warm-started from the first stage, the second still stalled at 0.95 where fresh weights
    fit it in 200 steps). A first stage is searched instead (its trials are cheap, the tenth among them).
    Steps measured too noisy rather than too large (`batch_noise`: the LR itself, continued on larger batches, passed
    its best as far as the tenth did) are retried once at the same LR on those larger batches, the stage alone (the
    stages before it converged on the smaller ones), and the stages after it train on them too."""
    if not stage.after or cause.get("code") != "lr_too_high" or cause.get("stage", stage.name) != stage.name:
        return None
    measured = next((d["evidence"] for d in stage.diagnoses if d.get("code") == "lr_too_high"
                     and {"lower_lr_fits", "loss_climbed", "settles_lower"} & set(d.get("evidence") or {})), None)
    if measured is None or stage.lr_used is None or abs(stage.lr_used - float(measured["lr"])) > 0.01 * stage.lr_used:
        return None  # retried already: it trains at another LR now (the evidence's LR is rounded)
    if measured.get("batch_noise"):
        if stage.batch_size is not None and stage.batch_size != measured["batch_size"]:
            return None  # retried already, on larger batches
        return Decision(RETRY, stage.name, f"{outcome.reason}; continued from where it ended, batches of "
                        f"{measured['larger_batch']} at its LR {_num(stage.lr_used)} passed its best where batches of "
                        f"{measured['batch_size']} did not (lr_too_high: steps too noisy on small batches): retrying "
                        f"on batches of {measured['larger_batch']}, and so do the stages after it",
                        restart=(stage.name,), batch_size=int(measured["larger_batch"]))
    lr, before = stage.lr_used / 10, _trained_before_at(ladder, stage, stage.lr_used)
    why = ("its training loss came down and climbed back at its LR" if measured.get("loss_climbed") else
           "continued from where it ended, it passed its best at a tenth of its LR" if measured.get("settles_lower")
           else "fresh weights fit its examples far better at a tenth of its LR")
    return Decision(RETRY, stage.name, f"{outcome.reason}; {why} {_num(stage.lr_used)} (lr_too_high): retrying at "
                    f"{_num(lr)}{_from(before)}", lr=lr, restart=before + (stage.name,))


def _trained_before_at(ladder: Ladder, stage: Stage, lr: float) -> tuple:
    """The converged stages before `stage` that trained at `lr` (not at an LR of their own), in run order: the
    weights it warm-starts from came from there, so a retry at another LR trains them again too."""
    before = ladder.ancestors(stage.name)
    return tuple(s.name for s in ladder.order() if s.name in before and s.status == CONVERGED
                 and s.lr is None and _same(s.lr_used, lr))


def _from(before: tuple) -> str:
    return f", from {before[0]} (the stages before it trained there too)" if before else ""


def _far_below_threshold(stage: Stage) -> bool:
    """lr_too_low said the stage's LR lies thousands of times below the probe's NaN threshold (its evidence
    `below_threshold`). Not the other kinds of lr_too_low: one example fitting only at 10x the LR, above a
    threshold the probe capped at its lr_max (tests' toy task), is no reason to skip an easier stage."""
    return any(d["code"] == "lr_too_low" and (d.get("evidence") or {}).get("below_threshold")
               for d in stage.diagnoses)


def _same(lr: Optional[float], picked: float) -> bool:
    return lr is not None and abs(lr - picked) <= 1e-9 * picked


def _there_from_the_start(stage: Stage, cause: dict) -> bool:
    """The failed stage's own warning/error, seen at its first step (units saturated or dead from the init, ...),
    and not one the LR, the init scale or clipping fix: easier data would not remove it. Found in
    benchmarks/bugsuite's large_init_rnn, whose 6000-iteration intermediate stage showed the same fault at
    its first step and failed on it too. Not a fault that followed a fix the orchestrator applied (a lowered LR,
    a search's settings): those may be its own doing."""
    return (cause.get("stage") == stage.name and cause.get("iteration") is not None and cause["iteration"] <= 1
            and cause.get("severity") in ("warning", "error") and cause.get("code") not in TUNABLE
            and not cause.get("after_fix"))  # e.g. the search's LR saturated it: the orchestrator's doing


INIT_FAULTS = ("bad_init_loss",)  # faults of the fresh weights themselves (a std 30x the default, a first loss
#                                   far above chance): every stage warm-started from them carries them


def _carried_init_fault(ladder: Ladder, stage: Stage, cause: dict) -> bool:
    """The failed stage's most likely cause is a fault of the initial weights found on a stage it warm-started from
    (directly or through others): easier data would not remove it, since an intermediate stage warm-starts from the
    same weights (holdout30's fiblm/pos_std30: a position table of std 30, named at the first stage's end, then two
    intermediate stages before the full one and 200 s before the ladder stopped on it)."""
    if cause.get("code") not in INIT_FAULTS or cause.get("severity") not in ("warning", "error") or \
            cause.get("after_fix") or cause.get("stage") in (None, stage.name):
        return False
    source, seen = ladder.warm_start_source(stage), set()
    while source is not None and source not in seen:
        if source == cause["stage"]:
            return True
        seen.add(source)
        source = ladder.warm_start_source(ladder[source])
    return False


def _why_not_insert(ladder: Ladder, stage: Stage, outcome: Outcome, knobs: Mapping[str, Knob],
                    max_insertions: int):
    """Why an intermediate stage is not the answer (a sentence), or the INSERT decision when it is."""
    if not stage.after:
        return ("it is a first stage, so there is no easier stage to insert before it: make it easier or look "
                "for a bug (see diagnoses)")
    pred = ladder[stage.after[0]]
    edge = ladder.original_edge(pred.name, stage.name)
    done = ladder.insertions_on(edge)
    if done >= max_insertions:
        return (f"already {done} intermediate stage(s) between {edge[0]} and {edge[1]} "
                f"(ladder.max_insertions={max_insertions})")
    middle = intermediate(knobs, pred.knobs, stage.knobs)
    if middle in (pred.knobs, stage.knobs):
        return (f"no setting of the knobs lies between {pred.name} {_fmt(pred.knobs)} and {stage.name} "
                f"{_fmt(stage.knobs)}")
    helped = ladder.stages.get(stage.edge[1]) if stage.inserted and stage.edge else None
    if (helped is not None and helped.best is not None and outcome.best is not None
            and stage.goal.better(helped.best, outcome.best)):
        # e.g. fewer examples make a validation goal harder: easier knobs are not easier here
        return (f"the stages inserted to help {helped.name} did worse on its goal ({stage.goal.metric} "
                f"{_num(outcome.best)} here vs {_num(helped.best)} there): more of them will not help")
    return _insert(ladder, stage, outcome, knobs)


def _insert(ladder: Ladder, stage: Stage, outcome: Outcome, knobs: Mapping[str, Knob]) -> Decision:
    pred = ladder[stage.after[0]]
    edge = ladder.original_edge(pred.name, stage.name)
    middle = intermediate(knobs, pred.knobs, stage.knobs)
    name = f"{edge[1]}.half{ladder.insertions_on(edge) + 1}"
    changed = {k: v for k, v in middle.items() if v != stage.knobs[k]}
    return Decision(INSERT, stage.name, f"{outcome.reason}; inserting {name} halfway from {pred.name}: "
                    f"{_fmt(changed)}", new_stage=name, knobs=middle, after=pred.name)


def _search(stage: Stage, outcome: Outcome, trials: int, why: str) -> Decision:
    return Decision(SEARCH, stage.name, f"{outcome.reason}; {why}: searching its settings with {trials} trials")


def _trials_for(stage: Stage, search: Optional[Any]) -> int:
    """How many trials a search of this stage gets (0: none): the stage's own search.trials first."""
    if search is None:
        return 0
    own = (stage.search or {}).get("trials")
    return int(own if own is not None else search.trials)


def _fmt(knobs: Mapping) -> str:
    return "{" + ", ".join(f"{k}={_num(v)}" for k, v in knobs.items()) + "}"


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
