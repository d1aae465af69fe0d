#!/usr/bin/env bash
# Train the bundled starter model (models/bundled/) from ../shared/data: one reproducible command.
#   scripts/train_bundled.sh            # train only (under a minute on 2 cores)
#   METRICS=m.json scripts/train_bundled.sh  # record metrics measured earlier
#   MEASURE=1 scripts/train_bundled.sh  # first measure on dev/CV (scripts/measure_models.py), record it in the card
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${BAZKHORD_SHARED_DATA:-../shared/data}"
PY="${PYTHON:-.venv/bin/python}"
BAZKHORD="${BAZKHORD:-.venv/bin/bazkhord}"
METRICS_ARGS=()
# METRICS=file.json records an earlier scripts/measure_models.py --json run instead of measuring again
if [ -n "${METRICS:-}" ]; then METRICS_ARGS=(--metrics "$METRICS"); fi
if [ "${MEASURE:-0}" = "1" ]; then
  "$PY" scripts/measure_models.py --json /tmp/bazkhord-bundled-metrics.json
  METRICS_ARGS=(--metrics /tmp/bazkhord-bundled-metrics.json)
fi
rm -rf models/bundled.new
"$BAZKHORD" train \
  --data "$DATA/snappfood/train.jsonl" \
  --data "$DATA/snappfood-topics/train.jsonl" \
  --taxonomy models/taxonomies/snappfood.yaml \
  --seed 0 \
  "${METRICS_ARGS[@]}" \
  --out models/bundled.new
rm -rf models/bundled
mv models/bundled.new models/bundled
du -sh models/bundled
