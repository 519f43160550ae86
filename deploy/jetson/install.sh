#!/usr/bin/env bash
# Installs edge-rep on an NVIDIA Jetson as a supervised systemd service (see docs/deploy.md):
#   checks JetPack/L4T and TensorRT, creates the service user, a venv that sees JetPack's TensorRT,
#   installs edge-rep with its device extras (no PyTorch: the daemon never imports it), copies the ONNX
#   model and builds its TensorRT engine on this device, installs the systemd unit, the udev rule and the config.
# Idempotent: a rerun changes only what changed; an edited config is kept (the new one lands beside it
# as edge-rep.toml.new); the engine is rebuilt only when the ONNX model changed.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: sudo deploy/jetson/install.sh [options]
       sudo deploy/jetson/install.sh --uninstall
options:
  --model FILE.onnx   ONNX model to deploy (its .json sidecar beside it); default: the bundled one
  --wheel FILE.whl    install edge-rep from this wheel instead of this source tree
  --serial SERIAL     pin the udev rule to the USB adapter with this serial number
  --fp32              build the TensorRT engine in FP32 (default: FP16 where the GPU supports it)
  --workspace MB      TensorRT builder workspace limit (default 1024)
  --no-engine         skip the engine build (the daemon then runs the model on ONNX Runtime)
  --uninstall         stop and remove the service, unit, udev rule and venv; keep the config,
                      results and sensor logs (/etc/edge-rep, /var/lib/edge-rep, /var/log/edge-rep)
  --dry-run           print the commands that change the system (user, venv, pip, engine build,
                      systemctl, udevadm) instead of running them; files go under --root
  --root DIR          with --dry-run: install the files into DIR instead of / (for testing)
  -h, --help          this help
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# Where things go (the unit and the shipped config name these paths too).
SERVICE=edge-rep
SERVICE_USER=edge-rep
PREFIX=/opt/edge-rep
VENV=$PREFIX/venv
ETC=/etc/edge-rep
STATE=/var/lib/edge-rep
MODEL_DIR=$STATE/model
UNIT=/etc/systemd/system/$SERVICE.service
RULE=/etc/udev/rules.d/99-edge-rep.rules
MIN_L4T=36   # JetPack 6: TensorRT 10, the API the TensorRT backend uses
MIN_TRT=10

ROOT="" DRY=0 UNINSTALL=0 MODEL="" WHEEL="" SERIAL="" ENGINE=1 FP16=1 WORKSPACE=1024

die() { echo "install.sh: error: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }

# Commands that change the system beyond copying files: printed under --dry-run.
run() {
  if [ "$DRY" -eq 1 ]; then
    local arg line="[dry-run]"
    for arg in "$@"; do
      if [[ "$arg" =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then line+=" $arg"; else line+=" $(printf '%q' "$arg")"; fi
    done
    echo "$line"
  else
    "$@"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || die "--model needs a file; give the path of an .onnx model"; MODEL=$2; shift 2 ;;
    --wheel) [ $# -ge 2 ] || die "--wheel needs a file; give the path of an edge-rep .whl"; WHEEL=$2; shift 2 ;;
    --serial) [ $# -ge 2 ] || die "--serial needs a value; see 'udevadm info' in docs/deploy.md"; SERIAL=$2; shift 2 ;;
    --workspace) [ $# -ge 2 ] || die "--workspace needs a size in MB"; WORKSPACE=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --fp32) FP16=0; shift ;;
    --no-engine) ENGINE=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1'; see --help" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ "$DRY" -eq 1 ] || die "--root is for testing and needs --dry-run; leave it out to install on this machine"
  mkdir -p "$ROOT" || die "$ROOT: cannot create the target root; pick a writable directory"
  ROOT=$(cd "$ROOT" && pwd)
elif [ "$DRY" -eq 1 ]; then
  die "--dry-run needs --root DIR (the files are installed there)"
elif [ "$(id -u)" -ne 0 ]; then
  die "must run as root (it installs a system service); rerun with sudo"
fi
[[ "$WORKSPACE" =~ ^[1-9][0-9]*$ ]] || die "--workspace '$WORKSPACE' is not a positive number of MB; e.g. --workspace 1024"
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "$WHEEL: wheel not found; build one with 'pip wheel --no-deps .' or leave out --wheel"
[[ -z "$SERIAL" || "$SERIAL" =~ ^[A-Za-z0-9._-]+$ ]] ||
  die "--serial '$SERIAL' has characters a USB serial number does not; copy it from 'udevadm info'"

# --- checks ---------------------------------------------------------------------------------------

# L4T release: /etc/nv_tegra_release ("# R36 (release), REVISION: 4.0, ..."), else dpkg's nvidia-l4t-core.
l4t_version() {
  local rel=$ROOT/etc/nv_tegra_release line major rev
  if [ -r "$rel" ]; then
    line=$(head -n 1 "$rel")
    major=$(sed -n 's/^# R\([0-9][0-9]*\) .*/\1/p' <<<"$line")
    rev=$(sed -n 's/.*REVISION: \([0-9][0-9.]*\).*/\1/p' <<<"$line")
    [ -n "$major" ] && { echo "$major.${rev:-0}"; return 0; }
  fi
  if [ -z "$ROOT" ] && command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Version}' nvidia-l4t-core 2>/dev/null | sed 's/-.*//' && return 0
  fi
  return 1
}

check_platform() {
  local v major
  if ! v=$(l4t_version) || [ -z "$v" ]; then
    [ "$DRY" -eq 1 ] && { say "warning: not a Jetson (no $ROOT/etc/nv_tegra_release); checks skipped in --dry-run"; return 0; }
    die "not a Jetson: no /etc/nv_tegra_release and no nvidia-l4t-core package; flash JetPack 6 or newer first"
  fi
  major=${v%%.*}
  if [ "$major" -lt "$MIN_L4T" ]; then
    die "L4T R$v (JetPack 5 or older) is too old: edge-rep needs TensorRT $MIN_TRT (L4T R$MIN_L4T, JetPack 6) or newer; upgrade JetPack"
  fi
  say "L4T R$v found"
  L4T_MAJOR=$major
}

check_tensorrt() {
  local v
  if [ "$DRY" -eq 1 ]; then
    echo "[dry-run] python3 -c 'import tensorrt' (needs TensorRT >= $MIN_TRT)"
    return 0
  fi
  v=$(python3 -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null) ||
    die "TensorRT's Python bindings do not import in the system python3; install them with 'sudo apt install nvidia-jetpack' (or python3-libnvinfer)"
  [ "${v%%.*}" -ge "$MIN_TRT" ] || die "TensorRT $v is too old (need $MIN_TRT or newer); upgrade JetPack to 6 or newer"
  say "TensorRT $v found"
}

# --- files ----------------------------------------------------------------------------------------

# Copy src to ROOT/dst with a mode, only when the content differs (keeps reruns quiet and mtimes stable).
put() {
  local src=$1 dst=$ROOT$2 mode=$3
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    return 0
  fi
  install -D -m "$mode" "$src" "$dst"
  say "installed $2"
}

# The config is the operator's once edited: never overwrite it; put the shipped one beside it.
put_config() {
  local src=$REPO/deploy/config/edge-rep.toml dst=$ROOT$ETC/edge-rep.toml
  if [ ! -e "$dst" ]; then
    install -D -m 0644 "$src" "$dst"
    say "installed $ETC/edge-rep.toml"
  elif ! cmp -s "$src" "$dst"; then
    install -m 0644 "$src" "$dst.new"
    say "kept your edited $ETC/edge-rep.toml; the shipped one is $ETC/edge-rep.toml.new (compare with diff)"
  else
    rm -f "$dst.new"
  fi
}

put_udev_rule() {
  local tmp
  tmp=$(mktemp)
  if [ -n "$SERIAL" ]; then
    sed "s/ATTRS{serial}==\"\*\"/ATTRS{serial}==\"$SERIAL\"/" "$REPO/deploy/udev/99-edge-rep.rules" >"$tmp"
  else
    cp "$REPO/deploy/udev/99-edge-rep.rules" "$tmp"
  fi
  put "$tmp" "$RULE" 0644
  rm -f "$tmp"
}

# The ONNX model to deploy: --model, else the one bundled with edge-rep (edge_rep/models/*.onnx).
find_model() {
  local found=()
  if [ -n "$MODEL" ]; then
    [ -f "$MODEL" ] || die "$MODEL: model file not found; give the path of an .onnx file"
    [[ "$MODEL" == *.onnx ]] || die "$MODEL: not an .onnx file; the Jetson builds its engine from ONNX (python export/to_trt.py --onnx-only makes one)"
    [ -f "${MODEL%.onnx}.json" ] || die "${MODEL%.onnx}.json: the model's sidecar is missing; keep it beside $MODEL"
    return 0
  fi
  shopt -s nullglob
  found=("$REPO"/edge_rep/models/*.onnx)
  shopt -u nullglob
  [ "${#found[@]}" -ge 1 ] || die "no bundled ONNX model in $REPO/edge_rep/models; pass --model FILE.onnx"
  [ "${#found[@]}" -eq 1 ] || die "several ONNX models in $REPO/edge_rep/models; choose one with --model"
  MODEL=${found[0]}
}

# Copies the model under a fixed name (the config points at model.onnx); sets MODEL_CHANGED=1 when
# the deployed model is new or different, which makes its old engine stale.
put_model() {
  MODEL_CHANGED=0
  if [ ! -f "$ROOT$MODEL_DIR/model.onnx" ] || ! cmp -s "$MODEL" "$ROOT$MODEL_DIR/model.onnx"; then
    MODEL_CHANGED=1
  fi
  # The sidecar is shared with the engine, whose build adds a TensorRT record to it: copy it only
  # with a new model, so that an unchanged model keeps its engine's record.
  if [ "$MODEL_CHANGED" -eq 1 ]; then
    rm -f "$ROOT$MODEL_DIR/model.engine"
    put "$MODEL" "$MODEL_DIR/model.onnx" 0644
    put "${MODEL%.onnx}.json" "$MODEL_DIR/model.json" 0644
  fi
}

# --- system ---------------------------------------------------------------------------------------

ensure_user() {
  if [ "$DRY" -eq 0 ] && id "$SERVICE_USER" >/dev/null 2>&1; then
    run usermod -a -G dialout,video "$SERVICE_USER"
    return 0
  fi
  run useradd --system --user-group --groups dialout,video --home-dir "$STATE" --no-create-home \
    --shell /usr/sbin/nologin --comment "edge-rep daemon" "$SERVICE_USER"
}

# Installs edge-rep with the device's extras: mqtt (the MQTT output) and jetson (cuda-python for the
# TensorRT backend, onnx for the engine build), cuda-python pinned to this device's CUDA major version
# (12 on JetPack 6, 13 on JetPack 7 = L4T R38). The base install has no torch: the daemon never imports it.
# A rerun reinstalls edge-rep from the source tree; a --wheel of the version already installed is kept
# (pip compares versions), so give a new build a new version.
ensure_venv() {
  local py=$VENV/bin/python cuda_major=12
  [ "${L4T_MAJOR:-$MIN_L4T}" -ge 38 ] && cuda_major=13
  [ -x "$ROOT$py" ] || run python3 -m venv --system-site-packages "$VENV"
  run "$py" -m pip install -q --upgrade pip
  run "$py" -m pip install -q --upgrade "${WHEEL:-$REPO}[mqtt,jetson]" "cuda-python>=$cuda_major,<$((cuda_major + 1))"
}

build_engine() {
  local args=(--checkpoint "$MODEL_DIR/model.onnx" --out "$MODEL_DIR" --workspace "$WORKSPACE")
  [ "$FP16" -eq 1 ] && args+=(--fp16)
  [ "$DRY" -eq 1 ] || [ -f "$REPO/export/to_trt.py" ] ||
    die "$REPO/export/to_trt.py not found; run install.sh from a complete edge-rep source tree, or use --no-engine"
  say "building the TensorRT engine on this device (minutes on a Jetson)"
  run "$VENV/bin/python" "$REPO/export/to_trt.py" "${args[@]}"
}

install_all() {
  check_platform
  check_tensorrt
  find_model
  ensure_user
  ensure_venv
  mkdir -p "$ROOT$MODEL_DIR"
  put_model
  if [ "$ENGINE" -eq 0 ]; then
    say "engine build skipped (--no-engine): the daemon will use ONNX Runtime"
  elif [ "$MODEL_CHANGED" -eq 1 ] || [ ! -f "$ROOT$MODEL_DIR/model.engine" ]; then
    build_engine
  else
    say "model unchanged and its engine is there; not rebuilding"
  fi
  run chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"
  put_config
  put "$REPO/deploy/systemd/edge-rep.service" "$UNIT" 0644
  put_udev_rule
  run udevadm control --reload-rules
  run udevadm trigger --subsystem-match=tty --action=change
  run systemctl daemon-reload
  run systemctl enable "$SERVICE.service"
  run systemctl restart --no-block "$SERVICE.service"   # the board may not be plugged in yet
  say "done: follow it with 'journalctl -u $SERVICE -f'; results in /var/log/edge-rep/windows.jsonl"
}

uninstall_all() {
  if [ -e "$ROOT$UNIT" ]; then
    run systemctl disable --now "$SERVICE.service"
  fi
  rm -f "$ROOT$UNIT" "$ROOT$RULE"
  rm -rf "$ROOT$PREFIX"
  run systemctl daemon-reload
  run udevadm control --reload-rules
  say "removed the service, the udev rule and $PREFIX"
  say "kept: $ETC (config), $STATE (model, sensor logs), /var/log/edge-rep (results) and the user $SERVICE_USER;"
  say "remove them by hand if wanted: sudo rm -r $ETC $STATE /var/log/edge-rep; sudo userdel $SERVICE_USER"
}

if [ "$UNINSTALL" -eq 1 ]; then
  uninstall_all
else
  install_all
fi
