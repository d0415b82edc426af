"""Datasets: a task hands over a torch Dataset; training reads it through a seeded, resumable DataLoader."""
import torch
from eco_tasks import LADDER, QUICK, BlobsTask

import orchestrator
from orchestrator.data import DatasetBatches


def _indices(batches: DatasetBatches, n: int) -> list:
    out = []
    for _ in range(n):
        x, _ = batches.next_batch(None)
        out.append(x[:, 0].tolist())  # the first feature names the example well enough
    return out


def test_the_order_is_seeded_and_a_restored_loader_continues_it_with_workers():
    problem = BlobsTask(as_dataset=True, workers=2).build({"n": 20}, 0)
    straight = DatasetBatches(problem, batch_size=8, seed=3)
    first = _indices(straight, 7)  # 2 full batches per epoch (the ragged end is dropped): several epochs
    assert first == _indices(DatasetBatches(problem, 8, seed=3), 7)  # same seed, same batches
    assert first != _indices(DatasetBatches(problem, 8, seed=4), 7)
    epoch = sorted(v for b in first[:2] for v in b)
    assert len(set(epoch)) == 16  # no example twice within an epoch

    interrupted = DatasetBatches(problem, 8, seed=3)
    _indices(interrupted, 4)
    state = interrupted.state_dict()
    interrupted.close()
    resumed = DatasetBatches(problem, 8, seed=3)
    resumed.load_state_dict(state)
    assert _indices(resumed, 3) == first[4:]  # exactly the batches the uninterrupted run took next
    resumed.close()
    # what the diagnostics replay of the last batch: its indices in this epoch's permutation
    replay = resumed.perm[resumed.pos - 8:resumed.pos]
    assert sorted(problem.dataset.x[replay, 0].tolist()) == sorted(first[6])
    straight.close()


def test_a_dataset_task_trains_through_the_ladder(tmp_path):
    task = BlobsTask(as_dataset=True)
    result = orchestrator.run(task, ladder=LADDER, overrides=QUICK, run_dir=tmp_path / "run")
    assert result.converged and [s.name for s in result.stages] == ["few", "all"]
    assert torch.float32 in task.logit_dtypes
