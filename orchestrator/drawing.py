"""The ladder drawn as an image: stages left to right by depth, coloured by status."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

from .ladder import Ladder  # noqa: E402

WRAP = 4  # stages per band
COLOURS = {"pending": "#d9d9d9", "running": "#ffd966", "converged": "#93c47d", "failed": "#e06666"}


def draw(ladder: Ladder) -> np.ndarray:
    """An RGB image (H, W, 3, uint8) of the DAG; inserted stages have a dashed outline."""
    g = ladder.graph
    depth = {}
    for name in nx.topological_sort(g):
        depth[name] = max((depth[p] + 1 for p in g.predecessors(name)), default=0)
    rows: dict[int, int] = {}
    for stage in ladder.order():
        rows[depth[stage.name]] = rows.get(depth[stage.name], 0) + 1
    # a long ladder wraps onto several bands of WRAP columns, so it stays readable in TensorBoard's card
    band = max(rows.values()) + 0.6
    pos, placed = {}, {}
    for stage in ladder.order():
        d = depth[stage.name]
        pos[stage.name] = (d % WRAP, -(d // WRAP) * band - placed.get(d, 0))
        placed[d] = placed.get(d, 0) + 1
    columns = min(max(depth.values()) + 1, WRAP)
    bands = max(depth.values()) // WRAP + 1
    width = 2.6 * columns + 1
    height = 1.4 * band * bands + 0.6
    fig, ax = plt.subplots(figsize=(width, height), dpi=80)
    for a, b in g.edges:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        if x1 > x0:  # left to right
            start, end = (x0 + 0.42, y0), (x1 - 0.42, y1)
        else:        # onto the next band: from the box's bottom to the next one's top
            start, end = (x0, y0 - 0.3), (x1, y1 + 0.3)
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "#555555"})
    for stage in ladder.order():
        x, y = pos[stage.name]
        label = f"{stage.name}\n{stage.status}"
        if stage.iterations:
            label += f" · {stage.iterations} it"
        ax.text(x, y, label, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.5", "fc": COLOURS.get(stage.status, "white"),
                      "ec": "#1f4e79" if stage.inserted else "#333333",
                      "ls": "--" if stage.inserted else "-", "lw": 2 if stage.inserted else 1})
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.axis("off")
    ax.set_title("green converged · yellow running · red failed · grey pending · dashed: inserted",
                 fontsize=8, color="#555555")
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
