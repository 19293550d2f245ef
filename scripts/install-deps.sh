#!/usr/bin/env bash
# Installs the Debian packages that fusebox needs to build, test and benchmark,
# and only those that are missing; then playwright-core (npm, pinned by
# tests/browser/package-lock.json) into tests/browser/node_modules when it is
# not there. Run as root (CI does); as another user it uses sudo when there
# is one, and otherwise says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config
  libcjson-dev            # rules parser (dlopen'ed by the shim, linked by the CLI)
  libcurl4-openssl-dev    # headers only: the shim never links libcurl
  libmicrohttpd-dev       # fusebox serve (linked by the CLI only)
  libhiredis-dev redis-server   # fusebox sync (hiredis: linked by the CLI only; server: fleet.bats)
  bats bats-support bats-assert
  curl wget python3 git procps iproute2 util-linux
  valgrind bc gnuplot-nox nginx   # make bench and valgrind.bats (nginx: the sidecar bench compares with)
  clang libclang-rt-14-dev   # make fuzz (libFuzzer, ASan, UBSan)
  netcat-openbsd redis-tools openssh-client postgresql-client   # the compatibility matrix
  libcap2-bin             # setcap: hostile.bats (a file-capability copy of a helper)
  strace                  # noninterference.bats (syscalls per connect)
  dpkg-dev lintian        # make deb (dpkg-deb, dpkg-shlibdeps) and package.bats
  pandoc man-db           # the man pages (from Markdown) and man -w / man --warnings
  adduser systemd         # the package's group; systemd-analyze verify of a drop-in
  xxd                     # the dashboard's page compiled into the command
  chromium                # dashboard.bats (headless, driven by playwright-core)
  openssl perl            # requests.bats (self-signed certificates, HTTP::Tiny)
)
# node and npm: the machine's own build counts; otherwise Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

# playwright-core for dashboard.bats, as the lock file pins it; it drives
# Debian's chromium (never a browser of its own download).
install_playwright() {
    [ -d tests/browser/node_modules/playwright-core ] && return 0
    echo "install-deps: installing playwright-core into tests/browser" >&2
    if ! (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >&2); then
        echo "install-deps: npm ci in tests/browser failed (is the npm registry reachable?)" >&2
        exit 1
    fi
}
# java (requests.bats runs `java HttpGet.java`, which needs the JDK's compiler).
command -v javac >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
    install_playwright
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -q >&2 ||
   ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
  echo "install-deps: could not install: ${missing[*]} (is a Debian mirror reachable?)" >&2
  exit 1
fi
install_playwright
