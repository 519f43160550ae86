#!/usr/bin/env bash
# Installs edge-rep on an NVIDIA Jetson as a supervised systemd service (see docs/deploy.md):
#   checks JetPack/L4T and TensorRT, creates the service user and a build user, a venv that sees
#   JetPack's TensorRT, installs edge-rep with its device extras at pinned versions (deploy/jetson/
#   constraints*.txt; no PyTorch: the daemon never imports it), installs the ONNX model root-owned and
#   read-only for the service, builds its TensorRT engine on this device as the build user (not root),
#   installs the systemd unit, the udev rule pinned to the board's adapter, and the config.
# Idempotent: a rerun changes only what changed; an edited config is kept (the new one lands beside it
# as edge-rep.toml.new); the engine is rebuilt only when the ONNX model changed; the udev rule keeps the
# serial number it was installed with.
set -euo pipefail
umask 022   # what it creates is readable by the service and writable by root only, whatever sudo's umask

usage() {
  cat <<'EOF'
usage: sudo deploy/jetson/install.sh --serial SERIAL|auto [options]
       sudo deploy/jetson/install.sh --no-udev [options]
       sudo deploy/jetson/install.sh --uninstall
options:
  --serial SERIAL     pin the udev rule (/dev/edge-rep) to the board's USB adapter with this serial
                      number (udevadm info, or ls /dev/serial/by-id); needed on the first install
  --serial auto       the same, with the serial number of the one supported adapter attached now
                      (FTDI, CP210x, RP2040); refused when none or several are attached
  --no-udev           install no udev rule: the board is on the Jetson's UART (set serial.port, e.g.
                      /dev/ttyTHS1) or named by a /dev/serial/by-id path; removes an earlier edge-rep rule
  --model FILE.onnx   ONNX model to deploy (its .json sidecar beside it); default: the bundled one
  --wheel FILE.whl    install edge-rep from this wheel instead of this source tree
  --fp32              build the TensorRT engine in FP32 (default: FP16 where the GPU supports it)
  --workspace MB      TensorRT builder workspace limit, 16 to 1048576 (default 1024)
  --no-engine         skip the engine build (the daemon then runs the model on ONNX Runtime)
  --uninstall         stop and remove the service, unit, udev rule, venv and build cache; keep the
                      config, the model, results and sensor logs
  --dry-run           print the commands that change the system (users, venv, pip, engine build,
                      systemctl, udevadm) instead of running them; files go under --root
  --root DIR          with --dry-run: install the files into DIR instead of / (for testing); the
                      attached adapters are read from DIR/sys
  -h, --help          this help
A rerun without --serial or --no-udev keeps the serial number of the installed rule.
EOF
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# Where things go (the unit and the shipped config name these paths too).
SERVICE=edge-rep
SERVICE_USER=edge-rep            # runs the daemon: reads the model, writes results and logs
BUILD_USER=edge-rep-build        # builds the TensorRT engine: the GPU, its own cache, nothing else
PREFIX=/opt/edge-rep             # root-owned; read-only for the service (ProtectSystem=strict too)
VENV=$PREFIX/venv
MODEL_DIR=$PREFIX/model          # model.onnx, model.json (sidecar), model.engine: root, 0644
BUILD_HOME=/var/cache/edge-rep-build   # the build user's home: its export folder and CUDA cache
BUILD_OUT=$BUILD_HOME/export
ETC=/etc/edge-rep
STATE=/var/lib/edge-rep          # the service's StateDirectory (sensor logs); systemd owns its ownership
OLD_MODEL_DIR=$STATE/model       # where installs before the read-only model kept it (service-writable)
UNIT=/etc/systemd/system/$SERVICE.service
RULE=/etc/udev/rules.d/99-edge-rep.rules
RULE_TEMPLATE=$REPO/deploy/udev/99-edge-rep.rules
MIN_L4T=36   # JetPack 6: TensorRT 10, the API the TensorRT backend uses
MIN_TRT=10

ROOT="" DRY=0 UNINSTALL=0 MODEL="" WHEEL="" SERIAL="" UDEV=1 ENGINE=1 FP16=1 WORKSPACE=1024

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
    --serial) [ $# -ge 2 ] || die "--serial needs a serial number or 'auto'; see 'udevadm info' in docs/deploy.md"
              SERIAL=$2; shift 2 ;;
    --no-udev) UDEV=0; shift ;;
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
[[ "$WORKSPACE" =~ ^[1-9][0-9]{1,6}$ && "$WORKSPACE" -ge 16 && "$WORKSPACE" -le 1048576 ]] ||
  die "--workspace '$WORKSPACE' is not a number of MB from 16 to 1048576 (what export accepts); e.g. --workspace 1024"
[ -z "$WHEEL" ] || [ -f "$WHEEL" ] || die "$WHEEL: wheel not found; build one with 'pip wheel --no-deps .' or leave out --wheel"
[ "$UDEV" -eq 1 ] || [ -z "$SERIAL" ] || die "--serial and --no-udev contradict each other; pass one of them"
[[ -z "$SERIAL" || "$SERIAL" =~ ^[A-Za-z0-9._-]+$ ]] ||
  die "--serial '$SERIAL' has characters a USB serial number does not; copy it from 'udevadm info'"
# Files this script installs are root's (the service must not be able to change its model or code).
OWN=()
[ "$(id -u)" -ne 0 ] || OWN=(-o root -g root)

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
  [ "$ENGINE" -eq 0 ] || command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) not found: it runs the engine build without root; install util-linux"
  say "TensorRT $v found"
}

# --- the board's adapter (udev) -------------------------------------------------------------------

# vendor:product ids the rule template knows, e.g. "0403:6001 10c4:ea60".
supported_ids() {
  sed -n 's/.*ATTRS{idVendor}=="\([0-9a-f]*\)", ATTRS{idProduct}=="\([0-9a-f]*\)".*/\1:\2/p' "$RULE_TEMPLATE" | tr '\n' ' '
}

# One line per USB serial port attached now: "ttyUSB0 0403:6001 SERIAL" (SERIAL empty when the adapter
# has none), read from sysfs as udev's ATTRS does: up from the tty to the USB device with idVendor.
attached_adapters() {
  local sys=$ROOT/sys top tty dev
  [ -d "$sys/class/tty" ] || return 0
  top=$(cd -P "$sys" && pwd)
  for tty in "$sys"/class/tty/ttyUSB* "$sys"/class/tty/ttyACM*; do
    [ -e "$tty/device" ] || continue
    dev=$(cd -P "$tty/device" 2>/dev/null && pwd) || continue
    while [ "${#dev}" -gt "${#top}" ] && [ ! -f "$dev/idVendor" ]; do dev=${dev%/*}; done
    [[ -f "$dev/idVendor" && -f "$dev/idProduct" ]] || continue
    printf '%s %s:%s %s\n' "${tty##*/}" "$(<"$dev/idVendor")" "$(<"$dev/idProduct")" \
      "$(if [ -r "$dev/serial" ]; then cat "$dev/serial"; fi)"
  done
}

# --serial auto: the serial number of the one supported adapter attached; refuses to guess among several.
detect_serial() {
  local ids tty id serial key list=""
  local -A ports=()
  ids=" $(supported_ids)"
  while read -r tty id serial; do
    [[ "$ids" == *" $id "* ]] || continue
    key="$id ${serial:-}"
    ports[$key]="${ports[$key]:+${ports[$key]},}$tty"
  done < <(attached_adapters)
  for key in "${!ports[@]}"; do list+="${list:+; }${ports[$key]} ($key)"; done
  [ "${#ports[@]}" -ge 1 ] ||
    die "--serial auto: no supported USB serial adapter is attached ($ids); plug in the board, or give --serial SERIAL"
  [ "${#ports[@]}" -eq 1 ] ||
    die "--serial auto: ${#ports[@]} adapters are attached: $list; unplug all but the board's, or give --serial SERIAL"
  key=${!ports[*]}
  serial=${key#* }
  [ -n "$serial" ] ||
    die "--serial auto: the adapter on ${ports[$key]} ($key) has no serial number; use --no-udev and set serial.port to its /dev/serial/by-path name"
  [[ "$serial" =~ ^[A-Za-z0-9._-]+$ ]] ||
    die "--serial auto: the adapter's serial number '$serial' has characters a udev rule cannot match safely; use --no-udev and a /dev/serial/by-id path"
  say "the board's adapter: ${ports[$key]}, USB ${key%% *}, serial number $serial"
  SERIAL=$serial
}

# The serial number the installed rule was pinned to, if any.
installed_serial() {
  local found
  [ -f "$ROOT$RULE" ] || return 0
  found=$(sed -n 's/.*ATTRS{serial}=="\([A-Za-z0-9._-]*\)".*/\1/p' "$ROOT$RULE" | sort -u)
  [ "$(wc -l <<<"$found")" -eq 1 ] && echo "$found"
  return 0
}

resolve_serial() {
  local kept
  [ "$UDEV" -eq 1 ] || return 0
  if [ "$SERIAL" = auto ]; then
    detect_serial
  elif [ -z "$SERIAL" ]; then
    kept=$(installed_serial)
    [ -n "$kept" ] || die "udev rule: no serial number for the board's USB adapter (the rule claims that one only); pass --serial SERIAL (ls -l /dev/serial/by-id), --serial auto with only the board plugged in, or --no-udev for the Jetson's UART (serial.port = \"/dev/ttyTHS1\")"
    SERIAL=$kept
    say "keeping the udev rule's serial number $SERIAL (--serial to change it)"
  fi
}

put_udev_rule() {
  local tmp
  if [ "$UDEV" -eq 0 ]; then
    if [ -e "$ROOT$RULE" ]; then
      rm -f "$ROOT$RULE"
      say "removed $RULE (--no-udev)"
    fi
    return 0
  fi
  tmp=$(mktemp)
  sed "s/@SERIAL@/$SERIAL/g" "$RULE_TEMPLATE" >"$tmp"
  put "$tmp" "$RULE" 0644
  rm -f "$tmp"
}

# --- files ----------------------------------------------------------------------------------------

# Copy src to ROOT/dst with a mode, root-owned, only when the content differs (keeps reruns quiet and
# mtimes stable).
put() {
  local src=$1 dst=$ROOT$2 mode=$3
  if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
    return 0
  fi
  install -D -m "$mode" "${OWN[@]}" "$src" "$dst"
  say "installed $2"
}

# The config is the operator's once edited: never overwrite it; put the shipped one beside it.
put_config() {
  local src=$REPO/deploy/config/edge-rep.toml dst=$ROOT$ETC/edge-rep.toml
  if [ ! -e "$dst" ]; then
    install -D -m 0644 "${OWN[@]}" "$src" "$dst"
    say "installed $ETC/edge-rep.toml"
  elif ! cmp -s "$src" "$dst"; then
    install -m 0644 "${OWN[@]}" "$src" "$dst.new"
    say "kept your edited $ETC/edge-rep.toml; the shipped one is $ETC/edge-rep.toml.new (compare with diff)"
  else
    rm -f "$dst.new"
  fi
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

# Copies the model under a fixed name (the config points at model.onnx) into the root-owned model
# folder; sets MODEL_CHANGED=1 when the deployed model is new or different, which makes its old engine stale.
put_model() {
  MODEL_CHANGED=0
  install -d -m 0755 "${OWN[@]}" "$ROOT$PREFIX" "$ROOT$MODEL_DIR"
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

# Installs before this one kept the model in the service's writable state folder, and their config
# (kept once edited) points there.
note_old_layout() {
  if [ -d "$ROOT$OLD_MODEL_DIR" ]; then
    say "note: $OLD_MODEL_DIR (an earlier install's model, writable by the service) is no longer used; the model is in $MODEL_DIR; remove the old folder when you no longer need it"
  fi
  if grep -Eq "^[[:space:]]*path[[:space:]]*=[[:space:]]*\"$OLD_MODEL_DIR/" "$ROOT$ETC/edge-rep.toml" 2>/dev/null; then
    say "warning: $ETC/edge-rep.toml still sets model.path under $OLD_MODEL_DIR: set it to \"$MODEL_DIR/model.onnx\" (as in $ETC/edge-rep.toml.new), then: sudo systemctl restart $SERVICE"
  fi
}

# --- system ---------------------------------------------------------------------------------------

# ensure_user NAME GROUPS HOME COMMENT: a system user with its own group and no login.
ensure_user() {
  local name=$1 groups=$2 home=$3 comment=$4
  if [ "$DRY" -eq 0 ] && id "$name" >/dev/null 2>&1; then
    run usermod -a -G "$groups" "$name"
    return 0
  fi
  run useradd --system --user-group --groups "$groups" --home-dir "$home" --no-create-home \
    --shell /usr/sbin/nologin --comment "$comment" "$name"
}

# Installs edge-rep with the device's extras: mqtt (the MQTT output) and jetson (cuda-python for the
# TensorRT backend, onnx for the engine build), cuda-python of this device's CUDA major version (12 on
# JetPack 6, 13 on JetPack 7 = L4T R38). Every version comes from deploy/jetson/constraints-cudaN.txt;
# --only-binary: no package's build script runs (as root) here; --no-build-isolation: edge-rep itself is
# built with the pinned setuptools, not one downloaded at build time. The base install has no torch.
# A rerun reinstalls edge-rep from the source tree; a --wheel of the version already installed is kept
# (pip compares versions), so give a new build a new version.
ensure_venv() {
  local py=$VENV/bin/python cuda_major=12 constraints
  [ "${L4T_MAJOR:-$MIN_L4T}" -ge 38 ] && cuda_major=13
  constraints=$REPO/deploy/jetson/constraints-cuda$cuda_major.txt
  [ -f "$constraints" ] || die "$constraints not found; run install.sh from a complete edge-rep source tree"
  [ -x "$ROOT$py" ] || run python3 -m venv --system-site-packages "$VENV"
  run "$py" -m pip install -q --upgrade --only-binary=:all: -c "$constraints" pip setuptools
  run "$py" -m pip install -q --upgrade --only-binary=:all: --no-build-isolation -c "$constraints" \
    "${WHEEL:-$REPO}[mqtt,jetson]" "cuda-python>=$cuda_major,<$((cuda_major + 1))"
}

# The engine is built by BUILD_USER (no root, no write access to the model folder) into its own export
# folder; root then checks it was built from the deployed ONNX and installs it, with the sidecar that
# records the build, into the root-owned model folder.
build_engine() {
  local args=(export --checkpoint "$MODEL_DIR/model.onnx" --out "$BUILD_OUT" --force --require-engine
              --workspace "$WORKSPACE")
  [ "$FP16" -eq 1 ] && args+=(--fp16)
  say "building the TensorRT engine on this device as user $BUILD_USER (minutes on a Jetson)"
  run install -d -m 0700 -o "$BUILD_USER" -g "$BUILD_USER" "$BUILD_HOME"
  run runuser -u "$BUILD_USER" -- env HOME="$BUILD_HOME" CUDA_CACHE_PATH="$BUILD_HOME/cuda" \
    "$VENV/bin/edge-rep" "${args[@]}" ||
    die "the engine build failed (its error is above); fix it and rerun install.sh, or pass --no-engine to run on ONNX Runtime"
  if [ "$DRY" -eq 0 ]; then
    if ! cmp -s "$MODEL_DIR/model.onnx" "$BUILD_OUT/model.onnx" || [ ! -f "$BUILD_OUT/model.engine" ]; then
      die "$BUILD_OUT holds no engine of the deployed model; rerun install.sh"
    fi
  fi
  run install -m 0644 -o root -g root "$BUILD_OUT/model.engine" "$MODEL_DIR/model.engine"
  run install -m 0644 -o root -g root "$BUILD_OUT/model.json" "$MODEL_DIR/model.json"
}

install_all() {
  check_platform
  check_tensorrt
  find_model
  resolve_serial   # before anything is installed: a refusal leaves the system as it was
  ensure_user "$SERVICE_USER" dialout,video "$STATE" "edge-rep daemon"
  ensure_user "$BUILD_USER" video "$BUILD_HOME" "edge-rep TensorRT engine builds"
  ensure_venv
  put_model
  if [ "$ENGINE" -eq 0 ]; then
    say "engine build skipped (--no-engine): the daemon will use ONNX Runtime"
  elif [ "$MODEL_CHANGED" -eq 1 ] || [ ! -f "$ROOT$MODEL_DIR/model.engine" ]; then
    build_engine
  else
    say "model unchanged and its engine is there; not rebuilding"
  fi
  put_config
  note_old_layout
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
  rm -rf "$ROOT$VENV" "$ROOT$BUILD_HOME"
  run systemctl daemon-reload
  run udevadm control --reload-rules
  say "removed the service, the udev rule, $VENV and $BUILD_HOME"
  say "kept: $ETC (config), $MODEL_DIR (model), $STATE (sensor logs), /var/log/edge-rep (results) and the users $SERVICE_USER, $BUILD_USER;"
  say "remove them by hand if wanted: sudo rm -r $ETC $PREFIX $STATE /var/log/edge-rep; sudo userdel $SERVICE_USER; sudo userdel $BUILD_USER"
}

if [ "$UNINSTALL" -eq 1 ]; then
  uninstall_all
else
  install_all
fi
