#!/usr/bin/env bash
# Tests the C register kit. With NATS_URL, STORE, POS and POSAGENT_SIM_URL
# set it runs the flow against that agent; without NATS_URL it builds
# posagent from this repository, starts its own agent and simulator, runs
# the flow and then the kill/restart test. Needs libnats-dev, a C compiler,
# make, curl (and go and node without NATS_URL).
set -euo pipefail
cd "$(dirname "$0")"
make -s register
run="c$(date +%s)$$"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# await FILE REGEX SECONDS: until a line of FILE matches, or fail.
await() {
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1"; do
    if [ $SECONDS -ge "$deadline" ]; then echo "timed out waiting for /$2/ in $1:" >&2; cat "$1" >&2; return 1; fi
    sleep 0.05
  done
}

pay() {
  local order
  order=$(grep -oE '^created .*order=[^ ]+' "$1" | sed 's/.*order=//')
  curl -sf -X POST "$POSAGENT_SIM_URL/simulator/orders/$order/pay"
}

# sell ID AMOUNT: a sale paid as soon as it is created; must end processed.
sell() {
  local out="$tmp/$1.out"
  ./register sale "$1" "$2" >"$out" 2>&1 &
  local pid=$!
  await "$out" '^created ' 60
  pay "$out"
  wait "$pid" || { echo "sale $1 did not end processed:" >&2; cat "$out" >&2; return 1; }
  grep -q '^processed sale='"$1"' .*replay=0' "$out"
}

flow() {
  sell "$run-1" 12.50
  echo "ok sale $run-1: created, paid, processed"

  ./register sale "$run-1" 12.50 >"$tmp/resend.out"
  grep -q '^processed sale='"$run-1"' .*replay=1' "$tmp/resend.out" || { cat "$tmp/resend.out"; exit 1; }
  echo "ok resend answered as a replay"

  ./register sale "$run-2" 5.00 >"$tmp/s2.out" 2>&1 &
  local pid=$!
  await "$tmp/s2.out" '^created ' 60
  ./register cancel "$run-2" >"$tmp/cancel.out"
  grep -q '^canceled sale='"$run-2" "$tmp/cancel.out"
  if wait "$pid"; then echo "a canceled sale exited 0" >&2; exit 1; fi
  grep -q '^canceled sale='"$run-2" "$tmp/s2.out"
  if ./register cancel "$run-2" >"$tmp/cancel2.out"; then echo "a second cancel exited 0" >&2; exit 1; fi
  grep -q '^rejected .*code=invalid_state sale_status=canceled' "$tmp/cancel2.out" || { cat "$tmp/cancel2.out"; exit 1; }
  echo "ok cancel: canceled; a second cancel: rejected invalid_state"
}

if [ -n "${NATS_URL:-}" ]; then
  : "${STORE:?set STORE}" "${POS:?set POS}" "${POSAGENT_SIM_URL:?set POSAGENT_SIM_URL}"
  flow
  echo "c kit: PASS"
  exit 0
fi

source ../standalone.sh
flow

# Six sales; the agent is SIGKILLed before sale 3, which is sent while it
# is down (the register retries until the PubAck), and again while sale 5
# awaits payment (the customer pays while it is down).
for i in 1 2 3 4 5 6; do
  sale="$run-r$i"
  out="$tmp/$sale.out"
  if [ $i -eq 3 ]; then
    echo "SIGKILL the agent; sale 3 is sent while it is down"
    kill_agent
    ./register sale "$sale" "$i.00" >"$out" 2>&1 &
    pid=$!
    # The register cannot store the sale until the agent is back.
    await "$out" '^retry ' 30
    if grep -q '^stored' "$out"; then echo "sale 3 stored while the agent was down?" >&2; exit 1; fi
    echo "sale 3 could not be stored while the agent is down; restarting the agent"
    start_agent
  else
    ./register sale "$sale" "$i.00" >"$out" 2>&1 &
    pid=$!
  fi
  await "$out" '^created ' 60
  if [ $i -eq 5 ]; then
    echo "SIGKILL the agent while sale 5 awaits payment; the customer pays; restart"
    kill_agent
    pay "$out"
    start_agent
  else
    pay "$out"
  fi
  wait "$pid" || { echo "sale $sale did not end processed:" >&2; cat "$out" >&2; exit 1; }
  echo "done $i: $(grep '^stored' "$out"), $(grep -o '^processed sale=[^ ]*' "$out")"
done
echo "c kit: PASS"
