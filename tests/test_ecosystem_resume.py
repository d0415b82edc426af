"""A stage resumed from its checkpoint with a scheduler, a Dataset and bf16 ends as if never interrupted."""
import pytest
import torch
from eco_tasks import BlobsTask

from orchestrator import checkpoint
from orchestrator.config import OptimConfig, SchedulerConfig
from orchestrator.ladder import Goal, Stage
from orchestrator.sinks import Sinks
from orchestrator.trainer import StageRun, TrainSettings, train

OPTIM = OptimConfig(_target_="torch.optim.RAdam",
                    scheduler=SchedulerConfig(_target_="torch.optim.lr_scheduler.StepLR",
                                              args={"step_size": 7, "gamma": 0.8}))


def _train(ckpt_dir, budget, resume=None):
    torch.manual_seed(0)
    problem = BlobsTask(as_dataset=True).build({"n": 64}, 0)
    stage = Stage("s", Goal("train/acc", 2.0, "max"), knobs={}, after=[])  # never met: runs to the budget
    stage.attempts = 1
    settings = TrainSettings(budget=budget, lr=0.01, batch_size=8, optim=OPTIM, seed=5, eval_every=10, patience=0,
                             histograms_every=0, checkpoint_secs=0.0, precision="bf16")
    run = StageRun(stage=stage, problem=problem, settings=settings, sinks=Sinks([]), ckpt_dir=ckpt_dir)
    train(run, resume)
    return run


def test_scheduler_loader_and_scaler_state_survive_a_checkpoint(tmp_path):
    straight = _train(tmp_path / "a", budget=40)
    _train(tmp_path / "b", budget=25)  # an interrupted attempt: its last checkpoint is at iteration 20
    saved = checkpoint.load(tmp_path / "b" / "last.pt")
    assert saved["iteration"] == 20 and saved["scheduler"]["last_epoch"] == 20
    resumed = _train(tmp_path / "c", budget=40, resume=saved)
    assert resumed.lr == straight.lr == pytest.approx(0.01 * 0.8 ** (40 // 7))
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
