#!/usr/bin/env bash
# Installs the system tools the test suite needs, when absent. Idempotent; quiet when all are there.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# The web view's test renders its page in a real headless browser (Debian's chromium package). Optional: where it
# cannot be installed (Ubuntu ships it only as a snap) that test skips and says why.
optional=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || optional+=(chromium)
[ ${#need[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing system packages: ${need[*]} ${optional[*]}"
$SUDO apt-get update -qq >/dev/null
if [ ${#need[@]} -ne 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The broker is started by the tests themselves on a free localhost port; keep the packaged service off.
  if [[ " ${need[*]} " == *" mosquitto "* ]] && command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
  fi
fi
if [ ${#optional[@]} -ne 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null \
    || echo "could not install ${optional[*]}: the web view's browser test will skip"
fi
