#!/usr/bin/env bash
# Installs the Debian packages that building, `make demo` and `make test` need. This is the one
# list of them: the Makefile's `deps` target and .ci/run call this script.
#
#   scripts/install-deps.sh          install what is missing (as root, or through sudo)
#   scripts/install-deps.sh --check  only report what is missing (exit 1 if anything is)
#   scripts/install-deps.sh --list   print the package list
#
# Fast when everything is there: one dpkg-query, no `apt-get update`. A package counts as
# present only when dpkg says it is installed (status "install ok installed" or "hold ok
# installed"); `dpkg -s` also succeeds for packages that are held but not installed, removed
# with their config files kept, or half-installed. The files the static build links against
# are checked too, and their package is reinstalled when one is missing.
#
# Not installed here: the Rust toolchain (rustup; nightly for the fuzz targets), qemu and the
# kernel of the cgroup v2 VM (../shared/tools/v2vm installs them on first use), the container
# engines of the engine tests (integration-tests/engines/*.sh install their own).
set -euo pipefail

packages=(
  # build: make, the C toolchain (cc links build scripts and the static binary: glibc's libc.a
  # is in libc6-dev), libseccomp.a, git (scripts ask it for the top directory), and the CA
  # certificates cargo needs to fetch crates
  make gcc libc6-dev pkg-config libseccomp-dev git ca-certificates
  # demo and end-to-end tests: the busybox bundles, jq, runc (reference runtime of the tests),
  # newuidmap/newgidmap, ip, ps (`kiln ps`), script/flock/unshare/nsenter/taskset, the
  # kernel's syscall table header
  busybox-static jq runc uidmap iproute2 procps bsdutils util-linux linux-libc-dev
  # runc's integration suite (../shared/conformance/run-runc-suite)
  bats gawk xz-utils sudo
  # the fuzz targets: libFuzzer is C++
  g++
)

# Files the build links against, with their package: reinstalled when missing although dpkg
# lists the package (e.g. deleted by hand or by an image's path-exclude). The paths are those of
# .cargo/config.toml (LIBSECCOMP_LIB_PATH) on x86-64.
files=(
  /usr/lib/x86_64-linux-gnu/libseccomp.a:libseccomp-dev
  /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev
  /usr/bin/cc:gcc
)

say() { echo "install-deps: $*" >&2; }

# The packages of $@ that dpkg does not list as installed for this architecture (or "all").
missing_packages() {
  local arch installed
  arch=$(dpkg --print-architecture)
  installed=$(dpkg-query -W -f='${Package} ${Architecture} ${db:Status-Status}\n' "$@" 2>/dev/null |
    awk -v a="$arch" '$3 == "installed" && ($2 == a || $2 == "all") { print $1 }') || true
  local p
  for p in "$@"; do
    grep -qxF "$p" <<<"$installed" || echo "$p"
  done
}

# The entries of `files` (FILE:PACKAGE) whose file is missing.
missing_files() {
  local entry
  for entry in "${files[@]}"; do
    [[ -e ${entry%%:*} ]] || echo "$entry"
  done
}

mode=install
case ${1:-} in
  "") ;;
  --check) mode=check ;;
  --list) printf '%s\n' "${packages[@]}"; exit 0 ;;
  -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) say "unknown argument '$1' (see --help)"; exit 2 ;;
esac

command -v dpkg-query >/dev/null || { say "dpkg-query not found: this script supports Debian and its derivatives; install by hand: ${packages[*]}"; exit 1; }

mapfile -t missing < <(missing_packages "${packages[@]}")
mapfile -t lost < <(missing_files)
mapfile -t broken < <(printf '%s\n' "${lost[@]#*:}" | sed '/^$/d' | sort -u)
# A package both missing and broken is installed once, as missing.
reinstall=()
for p in "${broken[@]}"; do
  [[ " ${missing[*]} " == *" $p "* ]] || reinstall+=("$p")
done
if ((${#missing[@]} == 0 && ${#reinstall[@]} == 0)); then
  exit 0
fi
((${#missing[@]} == 0)) || say "missing Debian packages: ${missing[*]}"
((${#lost[@]} == 0)) || say "missing files (FILE:PACKAGE): ${lost[*]}"
# apt refuses to install a package that is on hold (`apt-mark hold`) although not installed.
held=()
if ((${#missing[@]})); then
  mapfile -t held < <(dpkg-query -W -f='${Package} ${db:Status-Want}\n' "${missing[@]}" 2>/dev/null |
    awk '$2 == "hold" { print $1 }' || true)
fi
((${#held[@]} == 0)) || say "on hold but not installed, which apt will not change: ${held[*]} (undo with: apt-mark unhold ${held[*]})"
if [[ $mode == check ]]; then
  exit 1
fi
wanted=("${missing[@]}" "${reinstall[@]}")

as_root=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null; then
    say "not root and sudo is not installed; as root, run:"
    say "  apt-get update && apt-get install --reinstall ${wanted[*]}"
    exit 1
  fi
  say "not root: using sudo"
  as_root=(sudo)
fi
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q)

if ! "${apt[@]}" update >/dev/null; then
  say "apt-get update failed; the packages needed are: ${wanted[*]}"
  exit 1
fi
if ((${#missing[@]})) && ! "${apt[@]}" install "${missing[@]}" >/dev/null; then
  say "apt-get install failed; the packages needed are: ${missing[*]}"
  exit 1
fi
if ((${#reinstall[@]})) && ! "${apt[@]}" install --reinstall "${reinstall[@]}" >/dev/null; then
  say "apt-get install --reinstall failed for: ${reinstall[*]}"
  exit 1
fi

# Check again: an install that "succeeded" must have left everything in place.
mapfile -t still < <(missing_packages "${packages[@]}"; missing_files)
if ((${#still[@]})); then
  say "still missing after installing: ${still[*]}"
  exit 1
fi
say "installed: ${wanted[*]}"
