"""A bad setting is refused before torch is imported: one line in about a second, not three."""
import subprocess
import sys

from conftest import ROOT


def test_a_bad_setting_is_refused_before_torch_is_imported(tmp_path):
    code = ("import sys, runpy\n"
            f"sys.argv = ['orchestrator', '+task=digits', 'optim.lr=-1', 'hydra.run.dir={tmp_path / 'run'}']\n"
            "try:\n    runpy.run_module('orchestrator', run_name='__main__')\n"
            "finally:\n    print('torch loaded:', 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip() == "error: command line: optim.lr: must be > 0, got -1.0"
    assert "torch loaded: False" in r.stdout
    assert not (tmp_path / "run").exists()
