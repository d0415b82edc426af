"""A user's own images: a folder of pictures and one file of boxes, COCO-style JSON or CSV.

COCO JSON (the file a labelling tool exports):
    {"images": [{"id": 1, "file_name": "a.png"}, ...],
     "annotations": [{"image_id": 1, "bbox": [x, y, width, height], "category_id": 3}, ...],
     "categories": [{"id": 3, "name": "cat"}, ...]}
CSV, a header line and then one line per box (an image without objects: its name and empty fields):
    image,x_min,y_min,x_max,y_max,label
    a.png,10,12,30,40,cat
    b.png,,,,,
Image paths are relative to the annotation file's folder. Every image is read as RGB and resized to
`size` x `size` (its boxes scaled with it). A malformed file stops the run with one line naming the
file, the entry and what is wrong (exit 2).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from orchestrator.errors import ConfigError

from .shapes import Images

KEY = "task.data_path"
CSV_HEADER = ["image", "x_min", "y_min", "x_max", "y_max", "label"]
NAMES = ("annotations.json", "boxes.json", "boxes.csv", "annotations.csv")  # looked for in a folder


def load(path: str, size: int) -> Images:
    """Every image of the annotation file (or of the folder holding one), resized to size x size."""
    file = Path(path).expanduser()
    if file.is_dir():
        found = [file / n for n in NAMES if (file / n).is_file()]
        if not found:
            raise ConfigError(f"no annotation file in this folder (expected one of {', '.join(NAMES)})",
                              key=KEY, where=str(file))
        file = found[0]
    if not file.is_file():
        raise ConfigError("no such file or folder", key=KEY, where=str(file))
    if file.suffix.lower() == ".json":
        entries, classes = read_coco(file)
    elif file.suffix.lower() == ".csv":
        entries, classes = read_csv(file)
    else:
        raise ConfigError("expected a .json (COCO) or .csv file of boxes", key=KEY, where=str(file))
    if not entries:
        raise ConfigError("lists no images", key=KEY, where=str(file))
    pixels, boxes, labels = [], [], []
    for name, bxs, lbs in entries:
        image, scaled = read_image(file, name, bxs, size)
        pixels.append(image)
        boxes.append(scaled)
        labels.append(torch.tensor(lbs, dtype=torch.long))
    return Images(torch.stack(pixels), boxes, labels, tuple(classes))


def read_image(file: Path, name: str, boxes: list, size: int):
    from PIL import Image, UnidentifiedImageError

    where = file.parent / name
    try:
        with Image.open(where) as img:
            width, height = img.size
            rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
    except FileNotFoundError:
        raise ConfigError(f"image {name!r} is listed but not found", key=KEY, where=str(file)) from None
    except (UnidentifiedImageError, OSError) as e:
        raise ConfigError(f"image {name!r} cannot be read: {type(e).__name__}", key=KEY, where=str(file)) from None
    for x0, y0, x1, y1 in boxes:
        if x1 > width + 0.5 or y1 > height + 0.5:
            raise ConfigError(f"a box of {name!r} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) reaches outside its "
                              f"{width}x{height} image", key=KEY, where=str(file))
    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255).permute(2, 0, 1)
    scale = torch.tensor([size / width, size / height, size / width, size / height])
    return pixels, torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4) * scale


def _number(value, what: str, where: str, file: Path) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {what} is {value!r}, not a number", key=KEY, where=str(file)) from None
    if not np.isfinite(v):
        raise ConfigError(f"{where}: {what} is {value!r}, not a finite number", key=KEY, where=str(file))
    return v


def _box(x0, y0, x1, y1, where: str, file: Path) -> tuple:
    if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
        raise ConfigError(f"{where}: the box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) needs 0 <= x_min < x_max and "
                          "0 <= y_min < y_max", key=KEY, where=str(file))
    return (x0, y0, x1, y1)


def read_coco(file: Path):
    try:
        doc = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"not valid JSON (line {e.lineno}: {e.msg})", key=KEY, where=str(file)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot be read: {type(e).__name__}", key=KEY, where=str(file)) from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise ConfigError("a COCO file needs lists 'images' and 'annotations' (and 'categories')", key=KEY,
                          where=str(file))
    categories = {}
    for i, c in enumerate(doc.get("categories") or []):
        if not isinstance(c, dict) or "id" not in c:
            raise ConfigError(f"categories[{i}] has no 'id'", key=KEY, where=str(file))
        categories[c["id"]] = str(c.get("name", c["id"]))
    images = {}
    for i, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            raise ConfigError(f"images[{i}] needs 'id' and 'file_name'", key=KEY, where=str(file))
        images[img["id"]] = (str(img["file_name"]), [], [])
    for i, a in enumerate(doc["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(a, dict) or not all(k in a for k in ("image_id", "bbox", "category_id")):
            raise ConfigError(f"{where} needs 'image_id', 'bbox' and 'category_id'", key=KEY, where=str(file))
        if a["image_id"] not in images:
            raise ConfigError(f"{where}: image_id {a['image_id']!r} is not in 'images'", key=KEY, where=str(file))
        if categories and a["category_id"] not in categories:
            raise ConfigError(f"{where}: category_id {a['category_id']!r} is not in 'categories'", key=KEY,
                              where=str(file))
        bbox = a["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise ConfigError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}", key=KEY, where=str(file))
        x, y, w, h = (_number(v, "a bbox value", where, file) for v in bbox)
        images[a["image_id"]][1].append(_box(x, y, x + w, y + h, where, file))
        images[a["image_id"]][2].append(a["category_id"])
    if not categories:  # no 'categories' list: the ids found, in order
        categories = {c: str(c) for c in sorted({c for _, _, lbs in images.values() for c in lbs}, key=str)}
    index = {c: k for k, c in enumerate(categories)}
    entries = [(name, bxs, [index[c] for c in lbs]) for name, bxs, lbs in images.values()]
    return entries, list(categories.values())


def read_csv(file: Path):
    try:
        rows = list(csv.reader(file.read_text().splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"cannot be read as CSV: {type(e).__name__}", key=KEY, where=str(file)) from None
    if not rows or [c.strip() for c in rows[0]] != CSV_HEADER:
        raise ConfigError(f"the first line must be the header {','.join(CSV_HEADER)}", key=KEY, where=str(file))
    images: dict[str, tuple[list, list]] = {}
    classes: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        where = f"line {n}"
        if len(row) != len(CSV_HEADER):
            raise ConfigError(f"{where}: expected {len(CSV_HEADER)} fields ({','.join(CSV_HEADER)}), got {len(row)}",
                              key=KEY, where=str(file))
        name, *coords, label = (c.strip() for c in row)
        if not name:
            raise ConfigError(f"{where}: no image name", key=KEY, where=str(file))
        boxes, labels = images.setdefault(name, ([], []))
        if not any(coords) and not label:
            continue  # an image without objects
        x0, y0, x1, y1 = (_number(v, f, where, file) for v, f in zip(coords, CSV_HEADER[1:5]))
        if not label:
            raise ConfigError(f"{where}: the box has no label", key=KEY, where=str(file))
        boxes.append(_box(x0, y0, x1, y1, where, file))
        labels.append(classes.setdefault(label, len(classes)))
    return [(name, b, lab) for name, (b, lab) in images.items()], list(classes)
