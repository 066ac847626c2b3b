#!/usr/bin/env bash
# The quick start: installs, builds, starts the aggregator on SQLite under ./.faultline/, creates a
# demo tenant and enrollment token, enrolls and starts a local agent that tails a demo log this
# script writes, and prints where to look.
#   installers/run.sh          start (or restart) everything
#   installers/run.sh stop     stop everything
# Environment: FAULTLINE_PORT (default 7070), FAULTLINE_HOME (default ./.faultline).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
home=${FAULTLINE_HOME:-"$root/.faultline"}
port=${FAULTLINE_PORT:-7070}
bin="$root/build/bin"

stop_all() {
  for name in agent demo-writer aggregator; do
    pidfile="$home/$name.pid"
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$pidfile"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then
  stop_all
  echo "Faultline stopped (data kept in $home)."
  exit 0
fi

"$root/installers/deps.sh"
"$root/installers/build.sh" "$root/build"
stop_all
mkdir -p "$home/demo" "$home/agent"

# 1. The aggregator, on SQLite in $home/aggregator.
"$bin/faultline-aggregator" serve --data-dir "$home/aggregator" --listen "127.0.0.1:$port" \
  >"$home/aggregator.out" 2>"$home/aggregator.log" &
echo $! >"$home/aggregator.pid"
for _ in $(seq 100); do
  grep -q "listening on" "$home/aggregator.out" 2>/dev/null && break
  kill -0 "$(cat "$home/aggregator.pid")" 2>/dev/null || { cat "$home/aggregator.log"; exit 1; }
  sleep 0.1
done
url=$(grep -o 'http://[^ ]*' "$home/aggregator.out" | head -1)
admin=("$bin/faultline-aggregator" admin --data-dir "$home/aggregator")

# 2. A demo tenant and, for a fresh agent, a one-time enrollment token.
"${admin[@]}" tenant create demo >/dev/null 2>&1 || true
if [ ! -f "$home/agent/identity.json" ]; then
  token=$("${admin[@]}" enrollment-token create --tenant demo --ttl 15m)
  "$bin/faultline-agent" enroll --server "$url" --token "$token" --state-dir "$home/agent"
fi

# 3. A demo application log: a few lines a second, with the occasional error.
cat >"$home/demo-writer.sh" <<'WRITER'
#!/usr/bin/env bash
log="$1"; i=0
services=(api-gateway auth-svc billing orders inventory)
while true; do
  i=$((i + 1)); svc=${services[$((RANDOM % 5))]}
  if [ $((RANDOM % 20)) -eq 0 ]; then
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) ERROR $svc: upstream timeout after $((RANDOM % 3000))ms request_id=$RANDOM$RANDOM" >>"$log"
  else
    echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) INFO $svc: request completed status=200 duration_ms=$((RANDOM % 400)) n=$i" >>"$log"
  fi
  sleep 0.5
done
WRITER
chmod +x "$home/demo-writer.sh"
"$home/demo-writer.sh" "$home/demo/app.log" >/dev/null 2>&1 &
echo $! >"$home/demo-writer.pid"

# 4. The agent, tailing the demo log from its first byte.
printf '[inputs]\nstart_at = "beginning"\n' >"$home/agent.toml"
"$bin/faultline-agent" run --config "$home/agent.toml" --state-dir "$home/agent" \
  --path "$home/demo/*.log" >/dev/null 2>"$home/agent.log" &
echo $! >"$home/agent.pid"
sleep 2

cat <<EOF2

Faultline is running.
  Aggregator:   $url   (health: $url/healthz; dashboard: $url/ once the dashboard lands)
  Data:         $home/aggregator (SQLite)
  Agent status: $bin/faultline-agent status --state-dir $home/agent
  Stored lines: $bin/faultline-aggregator admin --data-dir $home/aggregator logs export --tenant demo
  Logs:         $home/aggregator.log, $home/agent.log
  Stop:         $root/installers/run.sh stop
EOF2
