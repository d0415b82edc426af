"""Mixed precision: bf16 autocast trains on CPU; float16 overflow skips are the scaler's, not a fault."""
import torch
from eco_tasks import LADDER, QUICK, BlobsTask

import orchestrator
from orchestrator.precision import Precision


def test_bf16_runs_the_loss_under_autocast_and_the_ladder_converges(tmp_path):
    task = BlobsTask()
    result = orchestrator.run(task, ladder=LADDER, overrides={**QUICK, "precision": "bf16"}, run_dir=tmp_path / "r")
    assert result.converged
    assert set(task.logit_dtypes) == {torch.bfloat16}
    final = torch.load(result["all"].checkpoints["final"], weights_only=True)["model"]
    assert all(t.dtype == torch.float32 for t in final.values())  # the weights themselves stay float32


def test_float16_overflow_skips_the_step_and_hides_the_gradients_from_the_checks():
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    p = Precision("16-mixed", "cpu")
    before = model.weight.detach().clone()
    with p.autocast():
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.float16
    p.backward(out.float().sum() * 1e30)  # far beyond float16: the scaled gradients overflow
    assert p.unscale(opt)
    p.step(opt)
    assert torch.equal(model.weight, before)  # skipped
    scale = p.state_dict()["scale"]
    assert scale < 65536.0  # and the scale came down, which a resumed stage keeps
    again = Precision("16-mixed", "cpu")
    again.load_state_dict(p.state_dict())
    assert again.state_dict()["scale"] == scale
