#!/usr/bin/env bash
# Installs the Debian packages that fusebox needs to build, test and benchmark,
# and only those that are missing. Run as root (CI does); as another user it
# uses sudo when there is one, and otherwise says what to install.
set -euo pipefail

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
  openssl perl            # requests.bats (self-signed certificates, HTTP::Tiny)
)
# node: the machine's own build counts; otherwise Debian's.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
# java (requests.bats runs `java HttpGet.java`, which needs the JDK's compiler).
command -v javac >/dev/null 2>&1 || packages+=(openjdk-17-jdk-headless)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
