# Sourced by scripts/bench and by tests/conftest.py (its audio_server fixture, through bash): a
# private PulseAudio server with a null sink, so coach can play (and be recorded) without a
# sound card. `start_pulse` exports PULSE_SERVER, XDG_RUNTIME_DIR, PULSE_CLIENTCONFIG,
# PULSE_COOKIE and COACH_TEST_SINK=coach_null, or sets PULSE_FAIL and returns 1; `stop_pulse`
# stops it and removes its folder.
# shellcheck shell=bash
PULSE_DIR=""
PULSE_PID=""
PULSE_FAIL=""

# Start a per-run pulseaudio daemon with a null sink "coach_null" as default.
# On failure sets PULSE_FAIL and returns 1.
#
# Traps this avoids (we usually run as root, in a container):
#  * As root there is no /run/user/0, and without a usable XDG_RUNTIME_DIR
#    pulseaudio silently falls back to /tmp/pulse-XXXX, where clients never
#    find it. So it gets a private runtime dir (mode 0700, owned by us) and an
#    explicit socket, which we hand to clients with PULSE_SERVER.
#  * As root pulseaudio only warns "not intended to be run as root" and works,
#    as long as it is not in --system mode (that one needs a "pulse" user and
#    refuses normal clients); hence --system=false.
#  * Daemon and clients would otherwise write cookie and state into $HOME
#    (~/.config/pulse); everything lives in the temp dir instead, and the
#    socket accepts anonymous clients so no cookie needs to be shared.
#  * -n skips default.pa, which would probe real (absent) sound cards, D-Bus,
#    X11, ... and fail or hang in containers; we load only what we need.
start_pulse() {
  local sock sink out
  if ! command -v pulseaudio >/dev/null 2>&1; then
    PULSE_FAIL="pulseaudio is not installed (sudo apt-get install pulseaudio pulseaudio-utils)"
    return 1
  fi
  if ! command -v pactl >/dev/null 2>&1; then
    PULSE_FAIL="pactl is not installed (sudo apt-get install pulseaudio-utils)"
    return 1
  fi

  PULSE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/coach-pulse.XXXXXX")
  mkdir -m 700 "$PULSE_DIR/runtime" "$PULSE_DIR/state" "$PULSE_DIR/config"
  sock="$PULSE_DIR/runtime/native"
  # Client side: never autospawn some other daemon, keep the cookie out of $HOME.
  printf 'autospawn = no\ncookie-file = %s\n' "$PULSE_DIR/config/cookie" >"$PULSE_DIR/client.conf"

  if ! env HOME="$PULSE_DIR" XDG_RUNTIME_DIR="$PULSE_DIR/runtime" \
    XDG_CONFIG_HOME="$PULSE_DIR/config" PULSE_RUNTIME_PATH="$PULSE_DIR/runtime/pulse" \
    PULSE_STATE_PATH="$PULSE_DIR/state" \
    pulseaudio --daemonize=yes --system=false -n \
    --exit-idle-time=-1 --disallow-exit --use-pid-file=yes \
    --realtime=no --high-priority=no \
    --log-target="file:$PULSE_DIR/pulseaudio.log" \
    --load="module-null-sink sink_name=coach_null sink_properties=device.description=coach_null" \
    --load="module-native-protocol-unix socket=\"$sock\" auth-anonymous=1" \
    --load="module-always-sink" \
    >"$PULSE_DIR/start.log" 2>&1; then
    PULSE_FAIL="pulseaudio did not start: $(cat "$PULSE_DIR/start.log" "$PULSE_DIR/pulseaudio.log" 2>/dev/null | grep -v '^$' | tail -n 3 | paste -sd ' ')"
    return 1
  fi
  [[ -r "$PULSE_DIR/runtime/pulse/pid" ]] && PULSE_PID=$(<"$PULSE_DIR/runtime/pulse/pid")

  export XDG_RUNTIME_DIR="$PULSE_DIR/runtime"
  export PULSE_SERVER="unix:$sock"
  export PULSE_CLIENTCONFIG="$PULSE_DIR/client.conf"
  export PULSE_COOKIE="$PULSE_DIR/config/cookie"

  # The daemon reports ready before forking off, but check that a client can
  # really talk to it and that our sink is the default one.
  for _ in {1..50}; do
    if out=$(LC_ALL=C pactl info 2>&1); then
      sink=$(sed -n 's/^Default Sink: //p' <<<"$out")
      if [[ $sink == coach_null ]]; then
        export COACH_TEST_SINK=coach_null
        unset COACH_NO_AUDIO_SERVER_REASON
        return 0
      fi
    fi
    sleep 0.1
  done
  PULSE_FAIL="pulseaudio started but is not usable: ${out:-no output from pactl info} (default sink: '${sink:-none}')"
  return 1
}

# True while the daemon runs. A zombie counts as gone: the daemon's parent is
# PID 1, and some container inits reap only every second or so.
pulse_alive() {
  local _pid _comm state
  kill -0 "$PULSE_PID" 2>/dev/null || return 1
  read -r _pid _comm state _ <"/proc/$PULSE_PID/stat" 2>/dev/null || return 0
  [[ $state != Z ]]
}

stop_pulse() {
  if [[ -n $PULSE_PID ]] && pulse_alive; then
    kill "$PULSE_PID" 2>/dev/null || true
    for _ in {1..40}; do
      pulse_alive || break
      sleep 0.05
    done
    if pulse_alive; then kill -9 "$PULSE_PID" 2>/dev/null || true; fi
  fi
  PULSE_PID=""
  if [[ -n $PULSE_DIR ]]; then
    rm -rf -- "$PULSE_DIR"
    PULSE_DIR=""
  fi
}
