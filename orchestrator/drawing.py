"""The ladder drawn as an image: one row per depth, top to bottom, sized for TensorBoard's image card.

A card is ~280 px wide and scales the image to fit: so the picture is narrow (one column of boxes for a
chain, however long: no wrapping, no diagonal arrows), its text is large, and the running stage stands out.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from .ladder import Ladder  # noqa: E402
from .tables import fmt  # noqa: E402

COLOURS = {"pending": "#e6e6e6", "running": "#ffd966", "converged": "#93c47d", "failed": "#e06666",
           "skipped": "#f7f7f7"}  # a fallback stage the ladder did not need
ROW = 84          # pixels per depth: a box and the arrow below it
BOX_H = 58
LEGEND = 46       # pixels for the two legend lines at the bottom
MARGIN = 12


def layers(ladder: Ladder) -> list[list]:
    """Stages by depth (longest path from a first stage), each row in run order."""
    g = ladder.graph
    depth = {}
    for name in nx.topological_sort(g):
        depth[name] = max((depth[p] + 1 for p in g.predecessors(name)), default=0)
    rows: list[list] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for stage in ladder.order():
        rows[depth[stage.name]].append(stage)
    return rows


def label(stage) -> str:
    parts = ["▶ running" if stage.status == "running" else stage.status]
    if stage.status not in ("pending", "skipped"):
        parts.append(f"{stage.iterations}/{fmt(stage.budget)} it")
    if stage.best is not None and stage.status != "running":
        parts.append(f"best {fmt(stage.best)}")
    return " · ".join(parts)


def draw(ladder: Ladder) -> np.ndarray:
    """An RGB image (H, W, 3, uint8) of the DAG; inserted stages have a dashed outline."""
    rows = layers(ladder)
    columns = max(len(r) for r in rows)
    box_w = 330 if columns == 1 else 210
    width = MARGIN * 2 + columns * box_w + (columns - 1) * 16
    height = MARGIN + len(rows) * ROW + LEGEND
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # y grows downwards, as on screen
    ax.axis("off")
    name_size, info_size = (17, 12.5) if columns == 1 else (13, 10.5)
    centre = {}
    for r, row in enumerate(rows):
        span = len(row) * box_w + (len(row) - 1) * 16
        left = (width - span) / 2
        for i, stage in enumerate(row):
            x = left + i * (box_w + 16)
            y = MARGIN + r * ROW
            centre[stage.name] = (x + box_w / 2, y)
            running = stage.status == "running"
            ax.add_patch(FancyBboxPatch(
                (x + 3, y + 3), box_w - 6, BOX_H - 6, boxstyle="round,pad=0,rounding_size=8",
                fc=COLOURS.get(stage.status, "white"), ec="#000000" if running else "#333333",
                lw=3.5 if running else (2.2 if stage.inserted else 1.2), ls="--" if stage.inserted else "-"))
            ax.text(x + box_w / 2, y + 21, stage.name, ha="center", va="center", fontsize=name_size * 0.75,
                    fontweight="bold", color="#111111")
            ax.text(x + box_w / 2, y + 43, label(stage), ha="center", va="center", fontsize=info_size * 0.75,
                    color="#222222")
    for a, b in ladder.graph.edges:
        (xa, ya), (xb, yb) = centre[a], centre[b]
        ax.annotate("", xy=(xb, yb + 2), xytext=(xa, ya + BOX_H - 2),
                    arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.6, "mutation_scale": 16})
    legend_y = MARGIN + len(rows) * ROW
    ax.text(width / 2, legend_y + 6, "green converged · yellow running · red failed", ha="center", va="center",
            fontsize=9.5, color="#444444")
    ax.text(width / 2, legend_y + 26, "grey pending · pale skipped · dashed: inserted",
            ha="center", va="center", fontsize=9.5, color="#444444")
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
