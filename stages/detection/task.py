"""The detection task: knobs -> a Problem (data view, model, loss, metrics, pictures)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from orchestrator.errors import ConfigError
from orchestrator.task import Problem

from . import annotations
from .boxes import matched_ious
from .coco import map50
from .model import STRIDE, Detector, decode, detection_loss, grid_targets
from .pictures import boxes_picture, confusion_picture, grid_picture
from .shapes import CLASSES, Generated, Images

VARIANTS = ("count", "detect")

METRICS = (
    "train/loss",        # logged by the engine from the batch losses
    "train/count_acc",   # count head right, on (at most train_eval_images of) the stage's training images
    "train/map50",       # detection mAP at IoU 0.5 on the same images
    "val/loss",          # the variant's loss on the validation images
    "val/count_acc",     # share of validation images whose number of objects the count head gets right
    "val/map50",         # COCO mAP at IoU 0.5 (pycocotools), averaged over classes
    "val/mean_iou",      # mean IoU of one-to-one matched (predicted, true) boxes, predictions scoring >= 0.5
)


class DetectionTask:
    """Shapes to count and detect, with knobs `subset` (training images), `max_objects` (images with
    at most this many objects), `clutter` (distracting specks shown) and `variant` (count or detect).

    One Detector (backbone + count head + detection head) at every setting, so each stage warm-starts
    all of its tensors. `data_path` replaces the generated shapes by a user's images (see annotations.py);
    `clutter` then changes nothing. A knob the ladder leaves out takes its hardest value, except
    clutter, which is then 0.
    """

    metrics = METRICS

    def __init__(self, data_path: str | None = None, size: int = 48, max_objects: int = 4,
                 train_images: int = 4000, val_images: int = 300, test_images: int = 300, data_seed: int = 0,
                 min_side: int = 8, max_side: int = 16, max_clutter: int = 6, noise: float = 0.05,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, width: int = 32,
                 train_eval_images: int = 200, eval_batch: int = 256, score_threshold: float = 0.5,
                 samples: int = 4, report_images: int = 8):
        if size < STRIDE or size % STRIDE:
            raise ConfigError(f"must be a positive multiple of {STRIDE} (the detector's cell size), got {size}",
                              key="task.size")
        if max_objects < 1:
            raise ConfigError(f"must be >= 1, got {max_objects}", key="task.max_objects")
        self.size = size
        if data_path:
            self.splits = split_user_data(annotations.load(data_path, size), val_fraction, test_fraction, data_seed)
            self.generated = None
            self.classes = self.splits["train"].classes
            self.max_count = max(int(s.counts().max()) for s in self.splits.values() if len(s))
            self.channels = 3
        else:
            self.generated = Generated({"train": train_images, "val": val_images, "test": test_images},
                                       seed=data_seed, size=size, max_objects=max_objects, min_side=min_side,
                                       max_side=max_side, max_clutter=max_clutter, noise=noise)
            self.classes, self.max_count, self.channels = CLASSES, max_objects, 1
        self.max_clutter = max_clutter if self.generated else 0
        self.width = width
        self.train_eval_images, self.eval_batch = train_eval_images, eval_batch
        self.score_threshold, self.n_samples, self.report_images = score_threshold, samples, report_images
        self.targets_cache: dict = {}

    # --- data views ------------------------------------------------------------------------

    def split(self, name: str, clutter: int) -> Images:
        return self.generated.split(name, clutter) if self.generated else self.splits[name]

    def view(self, name: str, max_objects: int, clutter: int, limit: int | None = None) -> tuple[Images, dict]:
        """The split's images with at most max_objects objects (the first `limit`), and their batch."""
        images = self.split(name, clutter)
        key = (name, clutter)
        if key not in self.targets_cache:
            obj, box, cls = grid_targets(images.boxes, images.labels, self.size // STRIDE)
            self.targets_cache[key] = {"x": images.pixels, "count": images.counts().clamp(max=self.max_count),
                                       "obj": obj, "box": box, "cls": cls}
        chosen = (images.counts() <= max_objects).nonzero().flatten()[:limit]
        batch = {k: v[chosen] for k, v in self.targets_cache[key].items()}
        return images.take(chosen), batch

    def new_model(self) -> Detector:
        return Detector(self.channels, self.width, len(self.classes), self.max_count)

    # --- the Problem -----------------------------------------------------------------------

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        variant = str(knobs.get("variant", "detect"))
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})",
                              key="knobs.variant")
        max_objects = int(knobs.get("max_objects", self.max_count))
        clutter = int(knobs.get("clutter", 0))
        subset = int(knobs.get("subset", 10**9))
        if subset < 1 or max_objects < 0 or clutter < 0:
            raise ConfigError(f"subset must be >= 1 and max_objects, clutter >= 0, got subset={subset}, "
                              f"max_objects={max_objects}, clutter={clutter}", key="knobs")
        train, train_batch = self.view("train", max_objects, clutter, subset)
        if len(train) == 0:
            raise ConfigError(f"no training image has at most {max_objects} objects", key="knobs.max_objects")
        val, val_batch = self.view("val", max_objects, clutter)
        if len(val) == 0:  # mAP over no images would read as perfect
            raise ConfigError(f"no validation image has at most {max_objects} objects", key="knobs.max_objects")
        # the training images scored for train/count_acc and train/map50
        seen = train.take(range(min(len(train), self.train_eval_images)))
        seen_batch = {k: v[:len(seen)] for k, v in train_batch.items()}
        model = self.new_model()

        def get_batch(idx: torch.Tensor) -> dict:
            return {k: v[idx] for k, v in train_batch.items()}

        def loss(model, batch) -> torch.Tensor:
            return variant_loss(variant, model(batch["x"], HEADS[variant]), batch)

        def evaluate(model) -> dict[str, float]:
            out = self.predict(model, val_batch["x"])
            train_out = self.predict(model, seen_batch["x"])
            found = self.scores(val, out)
            return {"train/count_acc": count_accuracy(train_out, seen_batch),
                    "train/map50": self.scores(seen, train_out)["map50"],
                    "val/loss": variant_loss(variant, out, val_batch).item(),
                    "val/count_acc": count_accuracy(out, val_batch),
                    "val/map50": found["map50"], "val/mean_iou": found["mean_iou"]}

        def samples(model) -> dict:
            with torch.no_grad():
                out = self.predict(model, val_batch["x"])
            return {**self.box_pictures(val, out, self.n_samples),
                    "val/count_confusion": confusion_picture(val_batch["count"], out["count"].argmax(1),
                                                             self.max_count + 1)}

        def report_sections(model) -> dict:
            return self.report(model, max_objects, clutter)

        return Problem(model=model, train_size=len(train), get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(self.max_count + 1) if variant == "count" else None,
                       samples=samples, report_sections=report_sections,
                       forward=lambda model, batch: flat_outputs(model(batch["x"], HEADS[variant])),
                       targets=lambda batch: batch["count"],
                       extras={"x_train": train_batch["x"], "y_val": val_batch["count"], "variant": variant,
                               "train_images": len(train), "val_images": len(val)})

    # --- metrics and pictures --------------------------------------------------------------

    def predict(self, model, pixels: torch.Tensor) -> dict:
        """The model's outputs on many images, in chunks, on the model's device; returned on the CPU."""
        device = next(model.parameters()).device
        parts = [model(pixels[i:i + self.eval_batch].to(device)) for i in range(0, len(pixels), self.eval_batch)]
        return {k: torch.cat([p[k] for p in parts]).cpu() for k in ("count", "grid")}

    def scores(self, images: Images, out: dict) -> dict[str, float]:
        found = decode(out["grid"])
        m = map50(images.boxes, images.labels, [b for b, _, _ in found], [c for _, c, _ in found],
                  [s for _, _, s in found], len(self.classes))
        ious = [matched_ious(b[s >= self.score_threshold], t) for (b, _, s), t in zip(found, images.boxes)]
        ious = torch.cat(ious) if ious else torch.zeros(0)
        return {"map50": m, "mean_iou": float(ious.detach().mean()) if len(ious) else 0.0}

    def box_pictures(self, images: Images, out: dict, n: int, prefix: str = "val") -> dict:
        n = min(n, len(images))
        found = decode(out["grid"][:n])
        kept = [(b[s >= self.score_threshold], c[s >= self.score_threshold], s[s >= self.score_threshold])
                for b, c, s in found]
        return {f"{prefix}/true_boxes": boxes_picture(images.pixels[:n], images.boxes[:n], images.labels[:n],
                                                      self.classes),
                f"{prefix}/predicted_boxes": boxes_picture(images.pixels[:n], [b for b, _, _ in kept],
                                                           [c for _, c, _ in kept], self.classes,
                                                           [s for _, _, s in kept])}

    def test_metrics(self, model, max_objects: int | None = None, clutter: int | None = None) -> dict[str, float]:
        """Count accuracy, mAP@0.5 and mean IoU on the test split (default: the hardest knob values)."""
        images, batch = self.view("test", self.max_count if max_objects is None else max_objects,
                                  self.max_clutter if clutter is None else clutter)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = self.predict(model, batch["x"])
        finally:
            model.train(was_training)
        found = self.scores(images, out)
        return {"test/count_acc": count_accuracy(out, batch), "test/map50": found["map50"],
                "test/mean_iou": found["mean_iou"], "test/images": float(len(images))}

    def report(self, model, max_objects: int, clutter: int) -> dict:
        metrics = self.test_metrics(model, max_objects, clutter)
        images, batch = self.view("test", max_objects, clutter, self.report_images)
        with torch.no_grad():
            out = self.predict(model, batch["x"])
        found = decode(out["grid"])
        kept = [b[s >= self.score_threshold] for b, _, s in found]
        table = "| metric | value |\n|---|---|\n" + "\n".join(
            f"| {k} | {v:.4g} |" for k, v in metrics.items())
        return {"Test metrics": table,
                "Test images (green: true boxes, red: predicted)": grid_picture(images.pixels, images.boxes, kept)}


HEADS = {"count": ("count",), "detect": ("count", "grid")}  # the heads each variant trains


def variant_loss(variant: str, out: dict, batch: dict) -> torch.Tensor:
    """count: cross-entropy of the number of objects. detect: the detection loss, plus the count's, so
    the count head follows the backbone as detection reshapes it (a detector also says how many)."""
    count = F.cross_entropy(out["count"], batch["count"])
    if variant == "count":
        return count
    return detection_loss(out["grid"], batch["obj"], batch["box"], batch["cls"]) + count


def count_accuracy(out: dict, batch: dict) -> float:
    return (out["count"].argmax(1) == batch["count"]).float().mean().item() if len(batch["count"]) else 0.0


def flat_outputs(out: dict) -> torch.Tensor:
    """The heads' outputs as one (N, K) tensor: what the diagnostics compare across a batch."""
    return torch.cat([v.flatten(1) for v in out.values()], 1)


def split_user_data(images: Images, val_fraction: float, test_fraction: float, seed: int) -> dict[str, Images]:
    """A fixed shuffle (by seed) cut into train / val / test."""
    n = len(images)
    n_val, n_test = max(1, round(n * val_fraction)), max(1, round(n * test_fraction))
    if n - n_val - n_test < 1:
        raise ConfigError(f"{n} images are too few to hold out {n_val} for validation and {n_test} for test",
                          key="task.data_path")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return {"val": images.take(order[:n_val]), "test": images.take(order[n_val:n_val + n_test]),
            "train": images.take(order[n_val + n_test:])}
