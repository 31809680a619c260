#!/bin/bash
# User-space CPU per exec event of `vigil observe --sensors exec --output json` into a file on
# tmpfs, during an unpaced exec storm; two builds compared in paired runs (A then B, then B then A, N pairs).
#
#   bench/exec-cost.sh [--pairs N] [--seconds S] [--warm S] [--profile DIR]
#                      [--open RATE [--output FORMAT] [--fields MASK]] TREE_A TREE_B
#
# TREE_A/TREE_B are checkouts with dist/ built (the same one twice measures the noise). Each run:
# observe starts, a warm-up storm of /bin/true (not counted), then the measured storm of a copy of
# /bin/true for S seconds; the observe process's CPU time (utime + stime, /proc/PID/stat) is read
# before the measured storm and again once every exec of the copy is in the output (at most 30 s
# later). CPU per exec event = that CPU / the process_exec lines written meanwhile (every exec on
# the host: the tracer is unfiltered). made/received/lost: the storm's iterations, the copy's
# process_exec lines, the lost records (lost_lines: json's {"lost":...} or compact's "⚠️ lost ...")
# and the events they count (lost_events). --profile DIR also samples observe with `vigil profile`
# (folded stacks, Node started with --perf-basic-prof for JIT frames; PROF_HZ sets the sampling
# frequency, default 499).
#
# --open RATE measures the file event instead: `vigil observe --sensors file --path-prefix DIR/
# --output FORMAT` (default json; --fields MASK adds a field mask) while bench/.output/openstorm
# opens DIR/f at RATE opens/s (0: unpaced) for S seconds; every open of the storm is an event.
set -euo pipefail
PAIRS=5 SECS=10 WARM=3 PROF='' OPEN='' FORMAT=json FIELDS=''
while [ $# -gt 2 ]; do
  case "$1" in
    --pairs) PAIRS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --warm) WARM=$2; shift 2 ;;
    --profile) PROF=$2; mkdir -p "$PROF"; shift 2 ;;
    --open) OPEN=$2; shift 2 ;;
    --output) FORMAT=$2; shift 2 ;;
    --fields) FIELDS=$2; shift 2 ;;
    *) echo "exec-cost: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { echo "exec-cost: two trees to compare" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")/.." && pwd)
STORM=$HERE/bench/.output/execstorm
WORK=$(mktemp -d /dev/shm/vigil-exec-cost.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp /bin/true "$WORK/vtrue"
mkdir "$WORK/files"; : > "$WORK/files/f"
if [ -n "$OPEN" ]; then
  SENSORS=(--sensors file --path-prefix "$WORK/files/" --output "$FORMAT" ${FIELDS:+--fields "$FIELDS"})
  MATCH=$WORK/files/f KIND=$WORK/files/f
  storm() { # duration-ms
    "$HERE/bench/.output/openstorm" --path "$WORK/files/f" --rate "$OPEN" --count 100000000 --duration-ms "$1"
  }
else
  SENSORS=(--sensors exec --output json)
  MATCH="\"binary\":\"$WORK/vtrue\"" KIND='"process_exec"'
  # --count: the storm runs for its duration (execstorm stops at 20,000 execs otherwise).
  storm() { "$STORM" --program "$WORK/vtrue" --count 10000000 --duration-ms "$1"; }
fi

one() { # tree index
  local tree=$1 i=$2 out=$WORK/out.json flags=''
  [ -n "$PROF" ] && flags=--perf-basic-prof
  # From the scratch directory: Node's --perf-basic-prof leaves its isolate logs in the cwd.
  # Node's flags as the tree's bin/vigil gives them (its #! line): node runs the script, not env.
  local node_flags
  node_flags=$(head -1 "$tree/bin/vigil" | sed -n 's/^#!.*node //p')
  (cd "$WORK" && exec node $flags $node_flags "$tree/bin/vigil" observe \
    "${SENSORS[@]}" > "$out" 2> "$WORK/err") &
  local vp=$! pp=''
  # Attached once it says what it watches (a loaded host can take longer than a few seconds).
  for _ in $(seq 120); do grep -q watching "$WORK/err" 2> /dev/null && break; sleep 0.5; done
  sleep 1
  [ "$WARM" -gt 0 ] && storm $((WARM * 1000)) > /dev/null
  # The warm-up's events written before the measured window opens: its output stops growing.
  local was=-1
  for _ in $(seq 60); do
    local now; now=$(stat -c %s "$out")
    [ "$now" = "$was" ] && break
    was=$now
    sleep 0.5
  done
  if [ -n "$PROF" ]; then
    "$HERE/bin/vigil" profile --pid $vp --duration $((SECS + 2)) --frequency ${PROF_HZ:-499} --quiet \
      -o "$PROF/$(basename "$tree")-$i.folded" &
    pp=$!
  fi
  local c0 b0 c1 b1 e0 made n=0
  c0=$(awk '{print $14 + $15}' /proc/$vp/stat); b0=$(stat -c %s "$out"); e0=$(stat -c %s "$WORK/err")
  storm $((SECS * 1000)) > "$WORK/storm"
  made=$(grep -o 'iterations=[0-9]*' "$WORK/storm" | cut -d= -f2)
  for _ in $(seq 60); do
    n=$(tail -c +$((b0 + 1)) "$out" | grep -cF "$MATCH" || true)
    [ "$n" -ge "$made" ] && break
    # Opens lost in the measured storm (the ring was full): what arrives is all there will be, once
    # the output stops growing (a reader still behind writes on for a while).
    if [ -n "$OPEN" ] && tail -c +$((e0 + 1)) "$WORK/err" | grep -q 'lost'; then
      local s1; s1=$(stat -c %s "$out"); sleep 1
      [ "$(stat -c %s "$out")" = "$s1" ] && break
      continue
    fi
    sleep 0.5
  done
  c1=$(awk '{print $14 + $15}' /proc/$vp/stat); b1=$(stat -c %s "$out")
  [ -n "$pp" ] && wait $pp
  kill -INT $vp; wait $vp || true
  local execs lost
  # (head closes the pipe early: tail's SIGPIPE is expected)
  { tail -c +$((b0 + 1)) "$out" | head -c $((b1 - b0)) > "$WORK/window"; } || true
  execs=$(grep -cF "$KIND" "$WORK/window" || true)
  # Lost records in either format: json's {"lost":{"count":N,...}}, compact's "⚠️ lost N file events (...)".
  lost=$(grep -cE '^(\{"lost"|⚠️ lost )' "$out" || true)
  lostn=$({ grep -oE '^(\{"lost":\{"count":|⚠️ lost )[0-9]+' "$out" || true; } | { grep -oE '[0-9]+$' || true; } |
    awk '{ s += $1 } END { print s + 0 }')
  local hz; hz=$(getconf CLK_TCK)
  echo "$(basename "$tree") run $i: cpu_ms=$(((c1 - c0) * 1000 / hz)) events=$execs" \
    "us_per_event=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v n="$execs" 'BEGIN { printf "%.2f", t * 1e6 / hz / (n > 0 ? n : 1) }')" \
    "made=$made received=$(grep -cF "$MATCH" "$WORK/window" || true) lost_lines=$lost lost_events=$lostn" \
    "bytes_per_event=$(((b1 - b0) / (execs > 0 ? execs : 1)))"
  grep -v 'watching' "$WORK/err" || true
  rm -f "$out"
}

# The order alternates (A then B, then B then A): what the host does meanwhile falls on both alike.
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) -eq 1 ]; then one "$1" "$i"; one "$2" "$i"; else one "$2" "$i"; one "$1" "$i"; fi
done
