#!/bin/sh
# progress.sh SIM SCENARIO - outpost-sim's progress display (issue #15): plain
# lines on a pipe, one line rewritten in place on a terminal, none with
# --quiet; never on stdout, and the run's result is the same either way.
set -eu
SIM=$1 SCN=$2
T=$(mktemp -d /tmp/outpost-progress.XXXXXX)
# 4 agents: enough events for several lines at OUTPOST_SIM_PROGRESS_S=0 (one
# per SIM_PROGRESS_EVENTS); the terminal run keeps the scenario's fleet so it
# lasts past the first 0.25 s redraw even in the release build.
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
OUTPOST_SIM_PROGRESS_S=0 "$SIM" run "$SCN" --seed 11 --agents 4 >"$T/plain.out" 2>"$T/plain.err" || fail "plain run failed"
n=$(grep -cE '^sim [0-9.]+ h of [0-9.]+ h \([0-9]+%\), [0-9]+ agents, [0-9]+ events/s, ETA ([0-9]+m[0-9]{2}s|\?), RSS [0-9]+ MiB$' "$T/plain.err" || true)
[ "$n" -ge 2 ] || fail "expected progress lines on stderr, got: $(cat "$T/plain.err")"
grep -q '^sim ' "$T/plain.out" && fail "progress on stdout"
# --jobs: one line, shard 0's, that says so (its events/s and RSS are one process's)
OUTPOST_SIM_PROGRESS_S=0 "$SIM" run "$SCN" --seed 11 --agents 4 --jobs 2 >"$T/jobs.out" 2>"$T/jobs.err" || fail "--jobs 2 run failed"
n=$(grep -cE '^sim [0-9.]+ h of [0-9.]+ h \([0-9]+%\), 4 agents in 2 processes, [0-9]+ events/s in the first, ETA ([0-9]+m[0-9]{2}s|\?), RSS [0-9]+ MiB each$' "$T/jobs.err" || true)
[ "$n" -ge 1 ] || fail "expected --jobs progress lines, got: $(head -3 "$T/jobs.err")"
"$SIM" run "$SCN" --seed 11 --agents 4 --quiet >"$T/quiet.out" 2>"$T/quiet.err" || fail "quiet run failed"
[ ! -s "$T/quiet.err" ] || fail "--quiet printed: $(cat "$T/quiet.err")"
# Same result with and without the display: the summary lines match but
# the wall clock and RSS line.
grep -v '^wall clock' "$T/plain.out" >"$T/a"; grep -v '^wall clock' "$T/quiet.out" >"$T/b"
cmp -s "$T/a" "$T/b" || fail "the display changed the run: $(diff "$T/a" "$T/b")"
# A terminal: carriage return and erase-line, no newline per update.
script -qec "\"$SIM\" run \"$SCN\" --seed 11" /dev/null >"$T/tty.out" 2>&1 || fail "tty run failed"
grep -q "$(printf '\r\033\\[K')sim " "$T/tty.out" || fail "no in-place line on a terminal"
OUTPOST_SIM_PROGRESS_S=nope "$SIM" run "$SCN" --seed 11 --agents 4 >/dev/null 2>"$T/bad.err" && fail "bad OUTPOST_SIM_PROGRESS_S accepted"
grep -q "OUTPOST_SIM_PROGRESS_S=nope: must be 0..3600 seconds" "$T/bad.err" || fail "bad value not named"
echo "progress.sh: all passed"
