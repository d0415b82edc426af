"""The detection task's pieces: the generator against its own pixels, IoU/NMS/mAP on hand-made boxes,
the loader of a user's images and its one-line errors, the Problem's wiring."""
from __future__ import annotations

import json
import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from orchestrator.errors import ConfigError
from stages.detection import DetectionTask
from stages.detection.boxes import iou, matched_ious, nms
from stages.detection.coco import map50
from stages.detection.model import decode, grid_targets
from stages.detection.shapes import Generated


@pytest.fixture(scope="module")
def clean():
    """No noise: every non-background pixel belongs to a shape or a speck."""
    return Generated({"train": 120, "val": 20}, seed=3, noise=0.0)


def blobs(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    labelled, n = ndimage.label(image > 0.3)  # background 0.1, shapes and specks >= 0.5
    return sorted((s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labelled))


def test_counts_and_boxes_agree_with_the_drawn_pixels(clean):
    images = clean.split("train", clutter=0)
    counts = images.counts()
    assert set(counts.tolist()) == {0, 1, 2, 3, 4}  # every count class appears
    for pixels, boxes in zip(images.pixels, images.boxes):
        # each shape is its own blob, and its box is exactly that blob's extent
        assert blobs(pixels[0].numpy()) == sorted(tuple(int(v) for v in b) for b in boxes.tolist())
        sides = boxes[:, 2:] - boxes[:, :2]
        assert ((sides >= 8) & (sides <= 16)).all()


def test_clutter_adds_specks_apart_from_the_shapes(clean):
    plain, cluttered = clean.split("train", 0), clean.split("train", 6)
    for a, b, boxes in zip(plain.pixels, cluttered.pixels, cluttered.boxes):
        extra = blobs(b[0].numpy())
        assert len(extra) >= len(boxes) + 1  # specks may touch each other, never a shape
        for box in boxes.tolist():
            x0, y0, x1, y1 = (int(v) for v in box)
            assert torch.equal(a[0, y0:y1, x0:x1], b[0, y0:y1, x0:x1])  # shapes untouched
        shapes = [tuple(int(v) for v in bx) for bx in boxes.tolist()]
        specks = torch.tensor([blob for blob in extra if blob not in shapes], dtype=torch.float32).reshape(-1, 4)
        assert len(specks) and (len(boxes) == 0 or (iou(specks, boxes) == 0).all())


def test_same_seed_same_images_and_splits_differ():
    a = Generated({"train": 10, "val": 10}, seed=1).split("train", 2)
    b = Generated({"train": 10, "val": 10}, seed=1).split("train", 2)
    other = Generated({"train": 10, "val": 10}, seed=1).split("val", 2)
    assert torch.equal(a.pixels, b.pixels)
    assert not any(torch.equal(x, y) for x in a.pixels for y in other.pixels)


def test_iou_on_hand_made_boxes():
    a = torch.tensor([[0., 0., 10., 10.]])
    b = torch.tensor([[5., 5., 15., 15.], [0., 0., 10., 5.], [20., 20., 30., 30.], [0., 0., 10., 10.]])
    # overlap 5x5 = 25 of 100 + 100 - 25; half the box; apart; itself
    assert iou(a, b)[0].tolist() == pytest.approx([25 / 175, 0.5, 0.0, 1.0], abs=1e-6)


def test_nms_keeps_the_best_of_each_overlapping_group():
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.], [20., 20., 30., 30.], [0., 0., 10., 4.]])
    scores = torch.tensor([0.8, 0.9, 0.7, 0.6])
    # box 1 (0.9) drops box 0 (IoU 90/110 = 0.82); box 3 overlaps box 1 by 36/(100+40-36) = 0.35: kept
    assert nms(boxes, scores, 0.5).tolist() == [1, 2, 3]
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]


def test_matched_ious_pair_each_box_once():
    true = torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]])
    pred = torch.tensor([[0., 0., 10., 5.], [0., 0., 10., 10.], [50., 50., 60., 60.]])
    assert sorted(matched_ious(pred, true).tolist()) == pytest.approx([1.0])  # the 0.5 one is left unpaired
    assert len(matched_ious(torch.zeros(0, 4), true)) == 0


def test_map50_on_hand_made_detections():
    truth = [torch.tensor([[0., 0., 10., 10.], [20., 20., 30., 30.]]), torch.tensor([[5., 5., 15., 15.]])]
    labels = [torch.tensor([0, 1]), torch.tensor([0])]
    ones = [torch.ones(2), torch.ones(1)]
    assert map50(truth, labels, truth, labels, ones, classes=2) == pytest.approx(1.0)
    # class 0: one of its two boxes found, so precision 1 up to recall 0.5 (51 of COCO's 101 recall
    # points); class 1: missed. Mean over the two classes:
    found = [torch.tensor([[0., 0., 10., 10.]]), torch.zeros(0, 4)]
    got = map50(truth, labels, found, [torch.tensor([0]), torch.zeros(0, dtype=torch.long)],
                [torch.ones(1), torch.zeros(0)], classes=2)
    assert got == pytest.approx((51 / 101 + 0) / 2, abs=1e-4)
    # a false alarm scored above the only true detection of a single-class image: precision 1/2 at every
    # recall point
    one = [torch.tensor([[0., 0., 10., 10.]])]
    got = map50(one, [torch.tensor([0])], [torch.tensor([[30., 30., 40., 40.], [1., 1., 10., 10.]])],
                [torch.tensor([0, 0])], [torch.tensor([0.9, 0.8])], classes=1)
    assert got == pytest.approx(0.5, abs=1e-4)
    # IoU below 0.5 is a miss: [0,0,10,4] covers 0.4 of the box
    assert map50(one, [torch.tensor([0])], [torch.tensor([[0., 0., 10., 4.]])], [torch.tensor([0])],
                 [torch.ones(1)], classes=1) == 0.0


def test_decode_inverts_the_grid_targets():
    boxes = [torch.tensor([[3., 4., 15., 12.], [30., 30., 46., 41.]])]
    labels = [torch.tensor([2, 0])]
    obj, box, cls = grid_targets(boxes, labels, cells=6)
    grid = torch.zeros(1, 8, 6, 6)
    grid[:, 0] = torch.where(obj > 0, 10.0, -10.0)
    offsets = box[:, :2].clamp(1e-4, 1 - 1e-4)
    grid[:, 1:3] = torch.log(offsets / (1 - offsets))  # the inverse of the sigmoid decode applies
    grid[:, 3:5] = box[:, 2:]
    grid[:, 5:] = torch.nn.functional.one_hot(cls, 3).permute(0, 3, 1, 2) * 10
    (found, found_labels, scores), = decode(grid)
    order = found[:, 0].argsort()
    assert torch.allclose(found[order], boxes[0], atol=1e-2)
    assert found_labels[order].tolist() == [2, 0] and (scores > 0.99).all()


# --- a user's own images ---------------------------------------------------------------------

def write_images(folder, names, size=(32, 24)):
    for name in names:
        Image.fromarray(np.full((size[1], size[0], 3), 40, np.uint8)).save(folder / name)


def test_loads_coco_json_and_csv_with_boxes_scaled(tmp_path):
    write_images(tmp_path, [f"{i}.png" for i in range(10)])
    doc = {"images": [{"id": i, "file_name": f"{i}.png"} for i in range(10)],
           "annotations": [{"image_id": i, "bbox": [4, 6, 8, 12], "category_id": 7} for i in range(0, 10, 2)],
           "categories": [{"id": 7, "name": "cell"}]}
    (tmp_path / "boxes.json").write_text(json.dumps(doc))
    task = DetectionTask(data_path=str(tmp_path / "boxes.json"), size=16, val_images=0)
    assert task.classes == ("cell",) and task.max_count == 1 and task.channels == 3
    assert sum(len(s) for s in task.splits.values()) == 10
    every = [b for s in task.splits.values() for b in s.boxes if len(b)]
    # 32x24 -> 16x16: x halves, y scales by 2/3
    assert torch.allclose(every[0], torch.tensor([[2., 4., 6., 12.]]))
    lines = ["image,x_min,y_min,x_max,y_max,label"] + [f"{i}.png,4,6,12,18,cell" for i in range(5)] + \
        [f"{i}.png,,,,," for i in range(5, 10)]
    (tmp_path / "boxes.csv").write_text("\n".join(lines) + "\n")
    task = DetectionTask(data_path=str(tmp_path / "boxes.csv"), size=16)
    assert sorted(int(c) for s in task.splits.values() for c in s.counts()) == [0] * 5 + [1] * 5
    problem = task.build({"variant": "detect"}, seed=0)
    assert problem.model(problem.get_batch(torch.arange(2))["x"])["grid"].shape == (2, 5 + 1, 2, 2)


@pytest.mark.parametrize("name, text, expected", [
    ("boxes.json", "{not json", "not valid JSON (line 1"),
    ("boxes.json", '{"images": []}', "needs lists 'images' and 'annotations'"),
    ("boxes.json", '{"images": [{"id": 1, "file_name": "0.png"}], "annotations": '
                   '[{"image_id": 2, "bbox": [0, 0, 4, 4], "category_id": 1}]}', "image_id 2 is not in 'images'"),
    ("boxes.json", '{"images": [{"id": 1, "file_name": "0.png"}], "annotations": '
                   '[{"image_id": 1, "bbox": [0, 0, 4], "category_id": 1}]}', "bbox must be [x, y, width, height]"),
    ("boxes.json", '{"images": [{"id": 1, "file_name": "0.png"}], "annotations": '
                   '[{"image_id": 1, "bbox": [0, 0, -4, 4], "category_id": 1}]}', "needs 0 <= x_min < x_max"),
    ("boxes.json", '{"images": [{"id": 1, "file_name": "missing.png"}], "annotations": []}',
     "image 'missing.png' is listed but not found"),
    ("boxes.csv", "img,x0\n", "the first line must be the header image,x_min,y_min,x_max,y_max,label"),
    ("boxes.csv", "image,x_min,y_min,x_max,y_max,label\n0.png,1,2,3\n", "line 2: expected 6 fields"),
    ("boxes.csv", "image,x_min,y_min,x_max,y_max,label\n0.png,1,2,x,9,cat\n", "line 2: x_max is 'x', not a number"),
    ("boxes.csv", "image,x_min,y_min,x_max,y_max,label\n0.png,0,0,40,9,cat\n", "reaches outside its 32x24 image"),
    ("boxes.txt", "", "expected a .json (COCO) or .csv file of boxes"),
])
def test_malformed_annotations_say_what_and_where(tmp_path, name, text, expected):
    write_images(tmp_path, ["0.png"])
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as e:
        DetectionTask(data_path=str(tmp_path / name))
    assert expected in e.value.line() and str(tmp_path / name) in e.value.line()
    assert "\n" not in e.value.line()


# --- the Problem ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    return DetectionTask(train_images=60, val_images=20, test_images=12, width=8, train_eval_images=10)


def test_knobs_choose_the_images_and_every_setting_has_one_architecture(small):
    one = small.build({"subset": 1000, "max_objects": 1, "clutter": 0, "variant": "detect"}, seed=0)
    assert (one.get_batch(torch.arange(one.train_size))["count"] <= 1).all()
    every = small.build({"subset": 7, "variant": "count"}, seed=0)
    assert every.train_size == 7
    assert {k: v.shape for k, v in one.model.state_dict().items()} == \
        {k: v.shape for k, v in every.model.state_dict().items()}
    with pytest.raises(ConfigError, match="unknown variant"):
        small.build({"variant": "segment"}, seed=0)


def test_evaluate_and_pictures_on_an_untrained_model(small):
    problem = small.build({"variant": "count"}, seed=0)
    problem.model.eval()
    with torch.no_grad():
        metrics = problem.evaluate(problem.model)
    assert set(metrics) == set(small.metrics) - {"train/loss"}
    assert 0 <= metrics["val/map50"] <= 1 and 0 <= metrics["val/count_acc"] <= 1
    panels = problem.samples(problem.model)
    assert panels["val/true_boxes"].boxes is not None and panels["val/true_boxes"].pixels.shape[0] == 3
    assert panels["val/count_confusion"].pixels.dim() == 3
    sections = problem.report_sections(problem.model)
    assert "| test/map50 |" in sections["Test metrics"]
    assert sections["Test images (green: true boxes, red: predicted)"].rendered().dtype == np.uint8
    # the count variant's loss leaves the detection head out of the forward (no "unused parameter")
    out = problem.forward(problem.model, problem.get_batch(torch.arange(3)))
    assert out.shape == (3, small.max_count + 1)


def test_a_picture_renders_its_boxes_as_outlines():
    from orchestrator.task import Picture

    image = Picture(torch.zeros(3, 10, 10), torch.tensor([[2., 2., 6., 6.]]), ["a"]).rendered()
    assert image.shape == (10, 10, 3) and image.dtype == np.uint8
    red = (image == (255, 0, 0)).all(-1)
    # a box covering pixels 2..5: its outline on rows/columns 2 and 5, its inside left alone
    assert red[2, 2:6].all() and red[5, 2:6].all() and red[2:6, 2].all() and red[2:6, 5].all()
    assert not red[3:5, 3:5].any() and red.sum() == 12
