#!/usr/bin/env bash
# Look at a run as a user does: start TensorBoard on it and take headless Chromium screenshots of each
# dashboard.   scripts/screenshots.sh RUN_DIR OUT_DIR [NAME_PREFIX]
#   RUN_DIR: a run directory (its tb/ folder is served); OUT_DIR: where the PNGs go (<prefix>_<dashboard>.png)
# Needs chromium (apt-get install -y chromium) and the project's Python (PYTHON=.venv/bin/python by default).
set -euo pipefail
run_dir=${1:?usage: scripts/screenshots.sh RUN_DIR OUT_DIR [NAME_PREFIX]}
out=${2:?usage: scripts/screenshots.sh RUN_DIR OUT_DIR [NAME_PREFIX]}
prefix=${3:-run}
python=${PYTHON:-.venv/bin/python}
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
port=${PORT:-6123}
width=${WIDTH:-1280}
height=${HEIGHT:-900}
[ -n "$chromium" ] || { echo "error: no chromium found (apt-get install -y chromium, or set CHROMIUM=)" >&2; exit 2; }
[ -d "$run_dir/tb" ] || { echo "error: $run_dir/tb is not a folder: give a run directory" >&2; exit 2; }
mkdir -p "$out"
profile=$(mktemp -d)
"$python" -m tensorboard.main --logdir "$run_dir/tb" --host 127.0.0.1 --port "$port" --reload_interval 1 \
    >"$profile/tensorboard.log" 2>&1 &
tb=$!
trap 'kill $tb 2>/dev/null; rm -rf "$profile"' EXIT
# served, and every run loaded (the run list stops growing)
"$python" - "$port" "$run_dir/tb" <<'PY'
import json, pathlib, sys, time, urllib.request
port, tb = sys.argv[1], pathlib.Path(sys.argv[2])
want = {p.name for p in tb.iterdir() if p.is_dir()}
deadline = time.time() + 60
while time.time() < deadline:
    try:
        runs = set(json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2)))
        if want <= runs:
            time.sleep(2)  # the last run's plugins
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("error: TensorBoard did not load every run within 60 s")
PY
# name=URL fragment; the hparams table is wide (a column per knob and metric), the text one has two views
for shot in timeseries=timeseries scalars=scalars custom_scalars=custom_scalars hparams=hparams images=images \
            text=text diagnoses='text&tagFilter=diagnoses%7Cdecisions'; do
    dashboard=${shot%%=*}
    w=$width; [ "$dashboard" = hparams ] && w=$((width * 13 / 8))
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile/chrome" \
        --window-size="$w,$height" --virtual-time-budget=15000 \
        --screenshot="$out/${prefix}_$dashboard.png" "http://127.0.0.1:$port/#${shot#*=}" >/dev/null 2>&1
    # 256 colours: a dashboard screenshot stays readable and well under 300 KB
    "$python" -c "import sys; from PIL import Image; p = sys.argv[1]; Image.open(p).convert('RGB').quantize(256).save(p, optimize=True)" \
        "$out/${prefix}_$dashboard.png"
    echo "$out/${prefix}_$dashboard.png"
done
