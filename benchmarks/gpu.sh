#!/usr/bin/env bash
# The GPU checks, in one pass (a GPU machine's time is short): on CUDA,
#   1. benchmarks/overhead.py in float32, bf16 and 16-mixed, each with its host syncs counted;
#   2. the README's command with device=cuda in each precision, its ladder.json read back;
#   3. bugs of the injected-bug suite (benchmarks/bugsuite) and its clean models through the CLI on the GPU.
# Everything it prints goes to $OUT/gpu.log too; the suite's results to $OUT/bugs.json.
#
#   OUT=/tmp/gpu bash benchmarks/gpu.sh            (DEVICE=cpu STEPS=200 REPEATS=1 BUGS=... for a dry run)
set -u
OUT=${OUT:-/tmp/gpu}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-3000}
REPEATS=${REPEATS:-7}
BUGS=${BUGS:-mlp/softmax_batch_dim,mlp/lr_50,cnn/nan_init,cnn/frozen_conv,cnn/batch_stats_in_eval,seq2seq/large_init_rnn,seq2seq/norm_without_eps,lm/naive_softmax,lm/mask_off_by_one,lm/norm_over_batch}
PY=${PY:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

echo "== 1. overhead (wall time between synchronisations)"
for precision in 32 bf16 16-mixed; do
  $PY benchmarks/overhead.py --device "$DEVICE" --precision $precision --steps "$STEPS" --repeats "$REPEATS" \
      --count-syncs || echo "overhead.py failed (precision $precision): exit $?"
done

echo "== 2. the README's command on $DEVICE"
for precision in 32 bf16 16-mixed; do
  dir=/tmp/gpu_cli_$precision
  rm -rf "$dir"
  start=$(date +%s.%N)
  $PY -m orchestrator +task=digits device="$DEVICE" precision=$precision hydra.run.dir="$dir" >"$dir.log" 2>&1
  rc=$?
  $PY - "$dir" "$rc" "$start" "$precision" <<'EOF'
import json, sys, time
from pathlib import Path
d, rc, start, precision = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
doc = json.loads((d / "ladder.json").read_text())
alarms = [x["code"] for s in doc["stages"] for x in s.get("diagnoses", []) if x["severity"] in ("warning", "error")]
print(f"precision {precision}: exit {rc}, {time.time() - start:.1f} s, status {doc['status']}, "
      f"stages {[(s['name'], s['status'], s.get('iterations')) for s in doc['stages']]}, warnings/errors {alarms}")
EOF
  [ "$rc" = 0 ] || tail -20 "$dir.log"
done

echo "== 3. injected bugs and clean models on $DEVICE"
$PY benchmarks/bugsuite/run.py --bugs "$BUGS" --seeds 1 --jobs 7 --timeout 200 --runs /tmp/gpu_bugs \
    --set device="$DEVICE"
cp /tmp/gpu_bugs/results.json "$OUT/bugs.json" 2>/dev/null
echo "== done"
