"""The generated data set: simple shapes on a small grey canvas, with their boxes.

Each image is a `size` x `size` grey canvas (values in [0, 1], background 0.1) holding between 0 and
`max_objects` shapes, the count drawn uniformly so that every count class is equally common:

- class and form: "rectangle" (filled), "ellipse" (filled) or "triangle" (filled, apex up);
- size: width and height each uniform in [`min_side`, `max_side`] pixels;
- brightness: uniform in [0.5, 1.0], one value per shape;
- position: uniform over the canvas, redrawn until the shape keeps a `gap`-pixel margin from every
  other shape (so shapes never touch: each one is its own connected blob, counts and boxes agree with
  the pixels, and no two box centres fall into the same 8-pixel cell of the detector's grid);
- box: the tight box of the shape's drawn pixels, (x_min, y_min, x_max, y_max) in pixel edges
  (a shape covering columns 3..9 has x_min 3 and x_max 10), so a box is exactly what is on screen.

Then two kinds of distraction, both fixed per image by its seed:
- clutter: up to `max_clutter` 2x2 specks, each away from every shape; the `clutter` knob shows the
  first k of them (0: none), so harder settings add specks to the same images rather than new images;
- noise: Gaussian pixel noise of standard deviation `noise`, then clipped to [0, 1] (the background sits
  at 0.1, two noise deviations above 0, so the clip rarely flattens a pixel to a constant).

Image i of a split comes from its own random stream, seeded by (seed, split, i): the same seed gives
the same images on any machine, and the train / val / test splits are disjoint streams.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CLASSES = ("rectangle", "ellipse", "triangle")
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}
SPECK = 2  # clutter speck side, pixels: far below min_side, so a speck never looks like an object


@dataclass
class Images:
    """A split: pictures and their boxes, at one clutter level."""

    pixels: torch.Tensor            # (N, C, H, W) float in [0, 1]
    boxes: list[torch.Tensor]       # per image (k, 4) float: x_min, y_min, x_max, y_max in pixels
    labels: list[torch.Tensor]      # per image (k,) long: class index
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.boxes)

    def counts(self) -> torch.Tensor:
        return torch.tensor([len(b) for b in self.boxes], dtype=torch.long)

    def take(self, index) -> "Images":
        index = [int(i) for i in index]
        return Images(self.pixels[index], [self.boxes[i] for i in index], [self.labels[i] for i in index],
                      self.classes)


def shape_mask(kind: str, w: int, h: int) -> np.ndarray:
    """The (h, w) boolean mask of a shape filling a w x h box (every row and column touched)."""
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    if kind == "rectangle":
        return np.ones((h, w), bool)
    if kind == "ellipse":
        return ((xs - cx) / (w / 2)) ** 2 + ((ys - cy) / (h / 2)) ** 2 <= 1.0
    if kind == "triangle":  # apex at the top centre, base on the bottom row
        half = (ys + 1) / h * (w / 2) + 0.5  # + 0.5: the apex row keeps a pixel when w is even
        return np.abs(xs - cx) <= half
    raise ValueError(f"unknown shape {kind!r}")


def _apart(a, b, gap: int) -> bool:
    """Boxes a and b (x0, y0, x1, y1) at least `gap` pixels apart on some axis."""
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


class Generated:
    """Every split drawn once; `split(name, clutter)` renders it at a clutter level."""

    def __init__(self, sizes: dict[str, int], seed: int = 0, size: int = 48, max_objects: int = 4,
                 min_side: int = 8, max_side: int = 16, gap: int = 2, max_clutter: int = 6,
                 noise: float = 0.05, background: float = 0.1, classes: tuple[str, ...] = CLASSES):
        self.size, self.classes, self.background = size, tuple(classes), background
        self.drawn = {name: [self._draw(seed, SPLIT_STREAMS[name], i, max_objects, min_side, max_side, gap,
                                        max_clutter, noise) for i in range(n)]
                      for name, n in sizes.items()}
        self.cache: dict[tuple[str, int], Images] = {}

    def _draw(self, seed, stream, i, max_objects, min_side, max_side, gap, max_clutter, noise):
        rng = np.random.default_rng([seed, stream, i])
        canvas = np.full((self.size, self.size), self.background, np.float32)
        count = int(rng.integers(0, max_objects + 1))
        boxes, labels = [], []
        for _ in range(count):
            for _try in range(200):  # a free spot exists on a 48-pixel canvas for up to ~6 shapes
                w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
                x, y = int(rng.integers(0, self.size - w + 1)), int(rng.integers(0, self.size - h + 1))
                box = (x, y, x + w, y + h)
                if all(_apart(box, b, gap) for b in boxes):
                    break
            else:
                continue  # no room: the image holds fewer shapes (its count says so)
            label = int(rng.integers(0, len(self.classes)))
            mask = shape_mask(self.classes[label], w, h)
            canvas[y:y + h, x:x + w][mask] = rng.uniform(0.5, 1.0)
            boxes.append(box)
            labels.append(label)
        specks = []
        while len(specks) < max_clutter:  # specks keep a gap from shapes; they may touch each other
            x, y = (int(v) for v in rng.integers(0, self.size - SPECK + 1, size=2))
            if all(_apart((x, y, x + SPECK, y + SPECK), b, gap) for b in boxes):
                specks.append((x, y, float(rng.uniform(0.5, 1.0))))
        noise_field = rng.normal(0.0, noise, canvas.shape).astype(np.float32) if noise > 0 else None
        return canvas, boxes, labels, specks, noise_field

    def split(self, name: str, clutter: int = 0) -> Images:
        key = (name, clutter)
        if key not in self.cache:
            pixels = np.empty((len(self.drawn[name]), 1, self.size, self.size), np.float32)
            boxes, labels = [], []
            for i, (canvas, bxs, lbs, specks, noise_field) in enumerate(self.drawn[name]):
                img = canvas.copy()
                for x, y, v in specks[:clutter]:
                    img[y:y + SPECK, x:x + SPECK] = v
                if noise_field is not None:
                    img = np.clip(img + noise_field, 0.0, 1.0)
                pixels[i, 0] = img
                boxes.append(torch.tensor(bxs, dtype=torch.float32).reshape(-1, 4))
                labels.append(torch.tensor(lbs, dtype=torch.long))
            self.cache[key] = Images(torch.from_numpy(pixels), boxes, labels, self.classes)
        return self.cache[key]
