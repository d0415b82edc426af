"""threads: auto = OMP_NUM_THREADS, else the cores divided by the jobs a sweep runs at once; set once."""
import pytest
import torch
from eco_tasks import LADDER, QUICK, BlobsTask

import orchestrator
from orchestrator import threads
from orchestrator.errors import ConfigError


def test_auto_divides_the_cores_by_the_jobs_unless_omp_num_threads_says(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "cores", lambda: 8)
    assert (threads.count("auto"), threads.count("auto", 3), threads.count("auto", 16)) == (8, 2, 1)
    assert threads.count("3", 4) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.count("auto", 1) == 1


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_bad_thread_count_is_refused(bad):
    with pytest.raises(ConfigError, match="threads: must be a number of threads > 0 or auto"):
        threads.check(bad, "conf/config.yaml")


def test_a_run_sets_torchs_threads(tmp_path):
    before = torch.get_num_threads()
    try:
        orchestrator.run(BlobsTask(), ladder=LADDER, overrides={**QUICK, "threads": 2}, run_dir=tmp_path / "run")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
