"""The console as a person sees it in a real terminal: the CLI under a pseudo-terminal, its output fed to a
terminal emulator (pyte), and the screen plus its scrollback read back."""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections import Counter

import pyte

from conftest import ROOT, TESTS, ladder_json

COLUMNS, LINES = 150, 40


def run_in_terminal(args: list[str], timeout: float = 120) -> tuple[int, list[str]]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr; the lines a user would scroll through."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), "TERM": "xterm-256color",
           "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=ROOT, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    screen = pyte.HistoryScreen(COLUMNS, LINES, history=10000)
    stream = pyte.ByteStream(screen)
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            stream.feed(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)

    def text(line) -> str:
        return "".join(line[x].data for x in range(COLUMNS)).rstrip()
    lines = [text(line) for line in screen.history.top] + [line.rstrip() for line in screen.display]
    return code, lines


def test_every_decision_and_result_is_on_screen_exactly_once(tmp_path):
    run_dir = tmp_path / "run"
    code, lines = run_in_terminal(["--config-dir", str(TESTS / "conf"), "+task=toy", "knobs.level.hard=300",
                                   "ladder.growth=0.5", "search.trials=0", f"hydra.run.dir={run_dir}"])
    doc = ladder_json(run_dir)
    assert code == 3, "\n".join(lines[-30:])
    assert any(d["kind"] == "insert" for d in doc["decisions"])  # the lines that used to vanish
    screen = "\n".join(lines)
    for i, d in enumerate(doc["decisions"]):
        line = f"decision {i + 1}: {d['kind']} {d['stage']}: "
        assert sum(text.startswith(line) for text in lines) == 1, f"{line!r}:\n{screen}"
    # each attempt's result once: "<converged|failed> <stage>: <iterations> iterations ..."
    expected = Counter(f"{'converged' if d['kind'] == 'advance' else 'failed'} {d['stage']}: {d['iterations']} "
                       "iterations" for d in doc["decisions"])
    for start, count in expected.items():
        assert sum(text.startswith(start) for text in lines) == count, f"{start!r}:\n{screen}"
    # one bar per attempt, printed once (a restarted display re-printed every earlier bar)
    bars = [text for text in lines if text.startswith("easy ")]
    assert len(bars) == 1, screen
    assert len([text for text in lines if text.startswith("middle (attempt 2)")]) == 1, screen
    assert "ladder stalled" in screen

