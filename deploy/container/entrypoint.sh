#!/usr/bin/env bash
# Container entry point: put the model into the state volume, build its TensorRT engine on this
# device the first time (or when the model changed), then run `edge-rep ARGS...`.
# EDGE_REP_ENGINE=0 skips the engine build (the daemon then uses ONNX Runtime).
set -euo pipefail

MODEL_DIR=/var/lib/edge-rep/model
PY=/opt/edge-rep/venv/bin/python
SRC=/opt/edge-rep/src

mkdir -p "$MODEL_DIR"
if [ ! -f "$MODEL_DIR/model.onnx" ]; then
  # The model bundled with edge-rep (edge_rep/models/*.onnx), unless one was mounted.
  shopt -s nullglob
  bundled=("$SRC"/edge_rep/models/*.onnx)
  shopt -u nullglob
  if [ "${#bundled[@]}" -ne 1 ]; then
    echo "entrypoint: no model: mount your model.onnx and model.json into $MODEL_DIR" >&2
    exit 2
  fi
  cp "${bundled[0]}" "$MODEL_DIR/model.onnx"
  cp "${bundled[0]%.onnx}.json" "$MODEL_DIR/model.json"
fi

if [ "${EDGE_REP_ENGINE:-1}" = 1 ] && { [ ! -f "$MODEL_DIR/model.engine" ] || [ "$MODEL_DIR/model.onnx" -nt "$MODEL_DIR/model.engine" ]; }; then
  echo "entrypoint: building the TensorRT engine for this device (minutes, once)" >&2
  if ! "$PY" "$SRC/export/to_trt.py" --checkpoint "$MODEL_DIR/model.onnx" --out "$MODEL_DIR" --fp16 --workspace 1024; then
    echo "entrypoint: warning: the engine build failed (see above); the daemon runs on ONNX Runtime" >&2
  fi
fi

exec /opt/edge-rep/venv/bin/edge-rep "$@"
