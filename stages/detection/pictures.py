"""What the detection task shows: image strips with boxes, a test grid, the count confusion matrix."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from orchestrator.task import Picture

ZOOM = 4  # a 48-pixel canvas is too small to read in TensorBoard or a report
TRUE, PREDICTED = (0.2, 0.9, 0.2), (1.0, 0.2, 0.2)  # green: the truth; red: the model
EDGE = (0.3, 0.5, 1.0)  # blue lines between the images of a grid


def strip(pixels: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) -> (3, S*ZOOM, N*S*ZOOM): the images side by side, enlarged, in RGB."""
    rgb = pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels[:, :3]
    big = F.interpolate(rgb.float(), scale_factor=ZOOM, mode="nearest")
    return torch.cat(list(big), dim=2).clamp(0, 1)


def shifted(boxes: list[torch.Tensor], size: int) -> torch.Tensor:
    """Each image's boxes moved to its place in the strip, enlarged."""
    parts = [b.reshape(-1, 4) * ZOOM + torch.tensor([i * size * ZOOM, 0, i * size * ZOOM, 0]) for i, b in
             enumerate(boxes)]
    return torch.cat(parts) if parts else torch.zeros(0, 4)


def boxes_picture(pixels, boxes, labels, names, scores=None) -> Picture:
    """A strip of images with their boxes labelled by class (and score), for add_image_with_boxes."""
    text = []
    for i, lab in enumerate(labels):
        for j, k in enumerate(lab.tolist()):
            text.append(names[k] if scores is None else f"{names[k]} {float(scores[i][j]):.2f}")
    return Picture(strip(pixels), shifted(boxes, pixels.shape[-1]), text)


def outline(image: torch.Tensor, boxes: torch.Tensor, colour) -> None:
    """Draw 1-pixel outlines into a (3, H, W) image, in place."""
    _, h, w = image.shape
    c = torch.tensor(colour).view(3, 1)
    for x0, y0, x1, y1 in boxes.round().long().tolist():
        x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1 - 1, w - 1))
        y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1 - 1, h - 1))
        image[:, y0:y1 + 1, x0] = image[:, y0:y1 + 1, x1] = c
        image[:, y0, x0:x1 + 1] = image[:, y1, x0:x1 + 1] = c


def grid_picture(pixels, true_boxes, pred_boxes, columns: int = 4) -> Picture:
    """Test images in rows of `columns`, true boxes in green and predicted ones in red (drawn in the pixels)."""
    size = pixels.shape[-1]
    rows = []
    for start in range(0, len(pixels), columns):
        part = strip(pixels[start:start + columns]).clone()
        outline(part, shifted(true_boxes[start:start + columns], size), TRUE)
        outline(part, shifted(pred_boxes[start:start + columns], size), PREDICTED)
        missing = columns * size * ZOOM - part.shape[2]
        part = F.pad(part, (0, missing))
        part[:, :, [k * size * ZOOM for k in range(1, columns)]] = torch.tensor(EDGE).view(3, 1, 1)
        part[:, 0, :] = torch.tensor(EDGE).view(3, 1)  # a line between the rows and columns of images
        rows.append(part)
    return Picture(torch.cat(rows, dim=1))


def confusion_picture(true: torch.Tensor, predicted: torch.Tensor, classes: int) -> Picture:
    """The count confusion matrix (rows: true count, columns: predicted), each row as shares, with numbers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = torch.zeros(classes, classes)
    matrix.index_put_((true, predicted.clamp(0, classes - 1)), torch.ones(len(true)), accumulate=True)
    shares = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(3.2, 3.0), dpi=80)
    ax.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(classes):
        for j in range(classes):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted count")
    ax.set_ylabel("true count")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    fig.tight_layout()
    fig.canvas.draw()
    image = torch.from_numpy(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    return Picture(image.permute(2, 0, 1).float() / 255)
