#!/usr/bin/env bash
# The comparison of docs/yarp.md: YARP's HTTP active checks against TcpShaker's half-open ones, one 60 s run each,
# 50 destinations checked every second, no client traffic; and YARP's HTTP checks every 3 s of backends that close
# idle connections after 1 s (Kestrel's keep-alive timeout; Node's default is 5 s, YARP's default interval 15 s). Each run also samples `ss -tan state time-wait | wc -l`
# (the whole machine, every 2 s) beside the program's own count (sockets of the backends' ports only).
# Run it alone: flock /tmp/bench.lock test/HealthChecks.TcpShaker.Yarp.Comparison/run.sh > docs/yarp-comparison.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build -c Release test/HealthChecks.TcpShaker.Yarp.Comparison >/dev/null
dll=test/HealthChecks.TcpShaker.Yarp.Comparison/bin/Release/net10.0/HealthChecks.TcpShaker.Yarp.Comparison.dll
run() {
  local max=0 n sampler
  ( while true; do ss -tan state time-wait | tail -n +2 | wc -l; sleep 2; done ) > /tmp/yarp-compare-ss.$$ &
  sampler=$!
  line=$(dotnet "$dll" "$@")
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  max=$(sort -n /tmp/yarp-compare-ss.$$ | tail -1); rm -f /tmp/yarp-compare-ss.$$
  echo "${line%\}},\"ss_time_wait_machine_max\":${max},\"load_before\":\"${load}\"}"
}
for args in "tcpshaker 50 1 60" "http 50 1 60" "http 50 3 60 1"; do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  # shellcheck disable=SC2086
  run $args
done
