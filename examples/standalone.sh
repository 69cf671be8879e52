# Sourced by the kits' test.sh when NATS_URL is not set: builds posagent
# from this repository and runs the Orders API simulator and an agent with
# its embedded NATS server on free loopback ports, in a temporary
# directory that is removed on exit. Defines:
#   start_agent    start (or restart) the agent; returns once /healthz is 200
#   kill_agent     SIGKILL the agent (as a crash or a power cut would)
# and exports NATS_URL, STORE, POS, POSAGENT_SIM_URL.
# Needs go, curl and node (for free ports).

examples_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$examples_dir/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/posagent-kit-XXXXXX")
sim_pid=""
agent_pid=""

cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  if [ "${KEEP_LOGS:-}" = "" ]; then rm -rf "$work"; else echo "logs kept in $work"; fi
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# wait_http URL SECONDS: until URL answers 2xx, or fail.
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    if [ $SECONDS -ge "$deadline" ]; then echo "timed out waiting for $1" >&2; return 1; fi
    sleep 0.1
  done
}

echo "building posagent from $repo"
(cd "$repo" && go build -o "$work/posagent" ./cmd/posagent)

sim_port=$(free_port)
nats_port=$(free_port)
http_port=$(free_port)
export STORE=KIT1 POS=KITPOS1
export NATS_URL="nats://127.0.0.1:$nats_port"
export POSAGENT_SIM_URL="http://127.0.0.1:$sim_port"
export POSAGENT_MP_ACCESS_TOKEN=TEST-posagent-simulator

cat >"$work/posagent.yaml" <<EOF
store_id: $STORE
store_name: Register kit test
locale: es-AR
mercadopago:
  base_url: $POSAGENT_SIM_URL
  poll_interval: 200ms
  retry_budget: 30s
nats:
  embedded:
    listen: 127.0.0.1:$nats_port
http:
  listen: 127.0.0.1:$http_port
state_dir: $work/state
pos:
  - external_pos_id: $POS
    mode: dynamic
EOF
mkdir -p "$work/state"

"$work/posagent" simulate -listen "127.0.0.1:$sim_port" >"$work/simulator.log" 2>&1 &
sim_pid=$!

start_agent() {
  "$work/posagent" run -config "$work/posagent.yaml" >>"$work/agent.log" 2>&1 &
  agent_pid=$!
  wait_http "http://127.0.0.1:$http_port/healthz" 30
}

kill_agent() {
  kill -KILL "$agent_pid"
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
}

wait_http "$POSAGENT_SIM_URL/simulator/orders/none/pay" 10 2>/dev/null || true
start_agent
echo "agent up: NATS $NATS_URL, simulator $POSAGENT_SIM_URL, logs in $work"

# restart_test CMD...: runs CMD, which sells one sale after the other; it
# stops at "gate saleI" before sending sale I and at "gate payI" before
# paying it, until the file $GATE_DIR/<name> exists, and prints "retry I"
# when a publish of sale I got no PubAck and "done I" when sale I ended.
# The agent is SIGKILLed before sale 3 and restarted only once sale 3
# could not be published: it is sent while the agent is down. It is
# SIGKILLed again while sale 5 awaits payment, the customer pays while it is
# down, and it is restarted. CMD must still finish every sale.
restart_test() {
  local out="$work/restart.out"
  export GATE_DIR="$work/gates"
  mkdir -p "$GATE_DIR"
  : >"$out"
  "$@" >"$out" 2>&1 &
  local pid=$!
  local state=0
  local deadline=$((SECONDS + 240))
  open_gates() { for g in "$@"; do touch "$GATE_DIR/$g"; done; }
  open_gates sale1 pay1 sale2 pay2 pay3 sale4 pay4 sale5 sale6 pay6
  while kill -0 "$pid" 2>/dev/null; do
    case $state in
    0) if grep -q '^gate sale3' "$out"; then echo "SIGKILL the agent before sale 3"; kill_agent; open_gates sale3; state=1; fi ;;
    1) if grep -q '^retry 3 ' "$out"; then echo "sale 3 could not be stored while the agent is down; restarting the agent"; start_agent; state=2; fi ;;
    2) if grep -q '^gate pay5' "$out"; then echo "SIGKILL the agent while sale 5 awaits payment; pay; restart"; kill_agent; open_gates pay5; start_agent; state=3; fi ;;
    esac
    if [ $SECONDS -ge "$deadline" ]; then kill "$pid"; echo "restart test timed out" >&2; cat "$out"; return 1; fi
    sleep 0.1
  done
  local rc=0
  wait "$pid" || rc=$?
  cat "$out"
  if [ $rc -ne 0 ] || [ $state -ne 3 ]; then echo "restart test failed (exit $rc, reached state $state of 3)" >&2; return 1; fi
}
