"""Input and target scale, once per run before the LR probe (code `input_scale`, warning only;
LeCun et al. 1998, Efficient BackProp).

Looks at up to `inputs.samples` training examples of a first stage (the task's `extras['x_train']` /
`['y_train']` if it has them, else the first tensor of `get_batch`): per-feature mean and std over the
examples (a feature is every non-batch position). Near-constant features are ignored, as they carry
no scale: one value in more than `inputs.constant_share` (95%) of the samples (the border pixels of
digits), or a std below `inputs.min_relative_std` (1e-3) x the median std. On the others it fires when
the median |mean| > `inputs.max_mean` (1.0: not centred), the median std is outside [`inputs.min_std`,
`inputs.max_std`] ([0.1, 10]: not unit scale), or the largest/smallest std > `inputs.max_spread`
(100: mixed scales), the spread judged on dense features (one value in at most `inputs.sparse_share`,
50%, of the samples) when there are two or more, or one feature's |mean| is above `inputs.max_mean_any`
(100) and 10x its std (a raw column among standardised ones: a pressure in hPa). Integer inputs (token
ids, class labels) are skipped; floating targets (regression) get the same test, unless they are counts (whole numbers
>= 0, some above 1: a Poisson loss reads them raw; holdout52's bikes). It runs before the LR
probe, so unscaled inputs are reported before the too-high LR they cause.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..diagnosis import Diagnosis, record
from .common import first_tensor, num, source_keys, targets_of
from .config import InputScaleConfig


def feature_stats(x: torch.Tensor, c: InputScaleConfig) -> Optional[dict]:
    if x is None or not x.is_floating_point() or x.dim() < 1 or x.shape[0] < 2:
        return None
    x = x.detach().float().reshape(x.shape[0], -1)
    x = x[torch.isfinite(x).all(1)]  # a sample with NaN/inf says nothing about scale
    if x.shape[0] < 2:
        return None
    mean, std = x.mean(0), x.std(0)
    # the share of samples at each feature's most common value (that value is its median when > 50%)
    share = (x == x.median(0).values).float().mean(0)
    live = (std > 1e-8) & (share <= c.constant_share)
    if bool(live.any()):
        live &= std >= c.min_relative_std * std[live].median()
    if not bool(live.any()):
        return None
    med_mean = float(mean[live].abs().median())
    med_std = float(std[live].median())
    # mixed scales, judged on dense features when there are some: a pixel that is 0 in 9 of 10 images has a
    # std resting on one value, 100x below its neighbours' on a clean, standardised image set
    dense = live & (share <= c.sparse_share)
    judged = dense if int(dense.sum()) >= 2 else live
    spread = float(std[judged].max() / std[judged].min())
    problems = []
    if med_mean > c.max_mean:
        problems.append(f"not centred (median |feature mean| {num(med_mean)})")
    if not c.min_std <= med_std <= c.max_std:
        problems.append(f"not unit scale (median feature std {num(med_std)})")
    if spread > c.max_spread:
        problems.append(f"features on scales {num(spread)}x apart")
    # one raw column among standardised ones (a pressure in hPa beside z-scores): the medians look right, but that
    # feature feeds the first layer a near-constant ~1000 (holdout40's weather)
    off = live & (mean.abs() > c.max_mean_any) & (mean.abs() > 10 * std)
    if med_mean <= c.max_mean and bool(off.any()):
        k = int(torch.nonzero(off).flatten()[int(mean[off].abs().argmax())])
        problems.append(f"not centred at feature {k} (mean {num(mean[k])}, std {num(std[k])}; "
                        f"{int(off.sum())} such feature(s) of {int(live.sum())})")
    return {"median_abs_mean": num(med_mean), "max_abs_mean": num(mean[live].abs().max()),
            "median_std": num(med_std), "min_std": num(std[live].min()), "max_std": num(std[live].max()),
            "features": int(x.shape[1]), "ignored_constant_features": int((~live).sum()), "problems": problems}


def _counts(t) -> bool:
    """Floating targets that are all whole numbers >= 0: counts, which a count loss reads as they are."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or not bool(torch.isfinite(t).all()):
        return False
    return bool((t >= 0).all()) and bool((t == t.round()).all()) and float(t.max()) > 1


def check_inputs(c: InputScaleConfig, stage, problem, sinks) -> bool:
    """Record `input_scale` (warning) for badly scaled inputs or floating targets of `problem`, and
    `nonfinite` (error) for NaN/inf among them. True when the data holds non-finite values."""
    try:
        x, y, others = fetch(problem, c.samples)
    except Exception as e:  # noqa: BLE001 - a task whose batches we cannot read: say so
        record(stage, sinks, Diagnosis("check_skipped", "info", f"input_scale: could not read a training batch "
                                       f"({type(e).__name__}: {e})", evidence={"check": "input_scale"},
                                       fix="give the Problem extras['x_train'] or a tensor batch"))
        return False
    broken = False
    if not isinstance(x, torch.Tensor):
        record(stage, sinks, Diagnosis("check_skipped", "info", "input_scale: no input tensor found in a batch "
                                       "(a dict batch without an x/input/src key?)", evidence={"check": "input_scale"},
                                       fix="give the Problem extras['x_train'] (the training inputs)"))
    # the first input, then any other floating one (category ids beside numbers: each named by its place)
    tensors = [("input", "", x)] + [("input", f" ({where})", t) for where, t in others]
    scaled: dict = {}  # "input" / "target" -> [(where, feature stats)] of the badly scaled tensors
    for what, where, t in tensors + [("target", "", y)]:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            rows = t.reshape(t.shape[0], -1) if t.dim() else t.reshape(1, 1)
            bad = ~torch.isfinite(rows)
            broken = True
            record(stage, sinks, Diagnosis(
                "nonfinite", "error", f"the training {what}s{where} hold {int(bad.sum())} NaN/inf value(s), in "
                f"{int(bad.any(1).sum())} of the {rows.shape[0]} examples looked at: the data, not the model or "
                "the LR, makes the loss non-finite", evidence={"what": what, "before_update": True,
                                                               "nonfinite_values": int(bad.sum()),
                                                               "examples": int(bad.any(1).sum())},
                fix=f"clean the {what}s (missing values, a division by zero in preprocessing, log of 0)"))
        if what == "target" and _counts(t):
            continue  # raw counts are what a count loss (Poisson, negative binomial) reads: not a scale to fix
        stats = feature_stats(t, c) if isinstance(t, torch.Tensor) else None
        if stats and stats["problems"]:
            scaled.setdefault(what, []).append((where.strip(" ()") or "the first", stats))
    # one warning for the inputs however many tensors hold them (a ranking model's two items of a pair alike)
    for what, found in scaled.items():
        names, stats = [name for name, _ in found], found[0][1]
        where = f" ({', '.join(names)})" if names != ["the first"] else ""
        record(stage, sinks, Diagnosis(
            "input_scale", "warning", f"the {what}s{where} are " + " and ".join(stats["problems"]),
            evidence={"what": what + where, **stats, **({"tensors": dict(found)} if len(found) > 1 else {})},
            fix=f"standardise the {what}s: (x - mean) / std per feature, computed on the training set"))
    return broken


def data(problem, samples: int):
    """The training inputs and targets to judge (up to `samples` examples)."""
    x, y, _ = fetch(problem, samples)
    return x, y


def fetch(problem, samples: int):
    """(inputs, targets, the batch's other floating inputs as [(where, tensor)]): the task's extras['x_train'] /
    ['y_train'] if it has them, else one batch's first tensor and targets, and every other floating input tensor of
    that batch (a tabular model's numbers beside its category ids): each tuple item but the targets, or a dict's
    source tensors."""
    x, y, others = problem.extras.get("x_train"), problem.extras.get("y_train"), []
    if not isinstance(x, torch.Tensor):
        n = min(samples, problem.train_size)
        batch = problem.get_batch(torch.arange(n))
        x = first_tensor(batch)
        y = problem.targets(batch) if problem.targets is not None else targets_of(batch)
        if x is None and isinstance(batch, dict):  # no conventional key: the tensors that are not the targets'
            sources = [batch[k] for k in source_keys(batch, y)]
            x = next((t for t in sources if t.is_floating_point()), sources[0] if sources else None)
        if isinstance(batch, (list, tuple)):
            items = [(f"batch item {i}", t) for i, t in enumerate(batch) if i < len(batch) - 1 or len(batch) == 1]
        elif isinstance(batch, dict):
            items = [(f"batch[{k!r}]", batch[k]) for k in source_keys(batch, targets_of(batch))]
        else:
            items = []
        others = [(where, t[:samples]) for where, t in items if isinstance(t, torch.Tensor) and t.is_floating_point()
                  and t.dim() and t is not x and t is not y]
    if isinstance(x, torch.Tensor):
        x = x[:samples]
    if isinstance(y, torch.Tensor):
        y = y[:samples]
    return x, y, others
