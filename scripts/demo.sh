#!/usr/bin/env bash
# Tail of `make demo` (runs after the native and wasm builds): makes the bundled default model,
# captions the sample images with the native CLI, prepares web/dist, then serves the demo with
# COOP/COEP headers on 127.0.0.1:$PORT (default 8080). MBLIP_DEMO_NO_SERVE=1 stops before serving.
#
# Variables (all optional):
#   MBLIP_DEMO_MODEL_SRC  Hugging Face checkpoint directory to convert into the default model
#                         (default: none -> the bundled synthetic model from mblip-synth; set it to a
#                         real Gregor/mblip-mt0-xl download)
#   MBLIP_DEMO_WEIGHTS    --weights type for mblip-convert and mblip-synth (default: the converter's
#                         default recipe, q4_0 with 8-bit attention-critical tensors)
#   MBLIP_DEMO_SYNTH_ARGS arguments of mblip-synth when no checkpoint directory exists (default: --preset mini)
#   MBLIP_DEMO_IMAGES     sample images to caption (default: samples/*)
#   NATIVE_BIN, PORT
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

NATIVE_BIN=${NATIVE_BIN:-build/native/bin}
MODEL_SRC=${MBLIP_DEMO_MODEL_SRC:-}
WEIGHTS=${MBLIP_DEMO_WEIGHTS:-}
weights_args=()
[ -n "$WEIGHTS" ] && weights_args=(--weights "$WEIGHTS")
SYNTH_ARGS=${MBLIP_DEMO_SYNTH_ARGS:---preset mini}
MODEL_OUT=web/demo/models/default.gguf
PORT=${PORT:-8080}

say() { printf '== %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

# 1. The bundled default model.
mkdir -p "$(dirname "$MODEL_OUT")"
if [ -n "$MODEL_SRC" ] && [ -d "$MODEL_SRC" ]; then
  [ -x "$NATIVE_BIN/mblip-convert" ] || die "$NATIVE_BIN/mblip-convert is missing (make native)"
  say "converting $MODEL_SRC -> $MODEL_OUT (weights ${WEIGHTS:-default recipe})"
  "$NATIVE_BIN/mblip-convert" "$MODEL_SRC" "$MODEL_OUT" "${weights_args[@]}" --force --quiet
elif [ -x "$NATIVE_BIN/mblip-synth" ]; then
  say "bundled default: synthetic model with random weights ($SYNTH_ARGS) -> $MODEL_OUT"
  # shellcheck disable=SC2086
  "$NATIVE_BIN/mblip-synth" "$MODEL_OUT" $SYNTH_ARGS "${weights_args[@]}" --force
else
  die "no model source: $MODEL_SRC does not exist and $NATIVE_BIN/mblip-synth is not built"
fi
ls -l "$MODEL_OUT"

# 2. Caption the sample images natively.
if [ -n "${MBLIP_DEMO_IMAGES:-}" ]; then
  read -r -a images <<< "$MBLIP_DEMO_IMAGES"
else
  images=(samples/*.jpg samples/*.png)
fi
if [ "${#images[@]}" -gt 0 ]; then
  [ -x "$NATIVE_BIN/mblip" ] || die "$NATIVE_BIN/mblip is missing (make native)"
  say "native captions (random-weight test models give meaningless text)"
  "$NATIVE_BIN/mblip" caption -m "$MODEL_OUT" "${images[@]}"
else
  say "no sample images found; skipping native captions"
fi

# 3. The npm package's wasm artifacts.
say "copying the wasm builds into web/dist"
node web/scripts/build.mjs

# 4. Serve.
if [ "${MBLIP_DEMO_NO_SERVE:-0}" = "1" ]; then
  say "MBLIP_DEMO_NO_SERVE=1: not serving. Start it with: PORT=$PORT node web/serve.mjs"
  exit 0
fi
say "serving the demo with COOP/COEP headers (Ctrl-C to stop)"
echo "Open http://127.0.0.1:$PORT/demo/?model=./models/default.gguf"
exec node web/serve.mjs --port "$PORT"
