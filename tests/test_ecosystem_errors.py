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


def test_a_new_key_in_a_dict_setting_says_it_needs_a_plus(run_dir):
    from conftest import cli

    r = cli("+task=digits", "optim.args={betas: [0.9, 0.99]}", run_dir=run_dir)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: command line: optim.args: 'betas' is not a key yet: add it with " \
                               "+optim.args.betas=..."
