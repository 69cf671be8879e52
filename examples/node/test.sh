#!/usr/bin/env bash
# Tests the Node register kit. With NATS_URL, STORE, POS and
# POSAGENT_SIM_URL set it runs the flow against that agent; without
# NATS_URL it builds posagent from this repository, starts its own agent
# and simulator, runs the flow and then the kill/restart test.
# node_modules is installed from package-lock.json, into
# $NODE_KIT_CACHE (default /var/cache/posagent-ci/node-kit) when that is
# writable, so CI installs it once.
set -euo pipefail
cd "$(dirname "$0")"

cache=${NODE_KIT_CACHE:-/var/cache/posagent-ci/node-kit}
if [ ! -d node_modules/nats ]; then
  if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
    stamp="$cache/$(sha256sum package-lock.json | cut -c1-16)"
    if [ ! -d "$stamp/node_modules/nats" ]; then
      mkdir -p "$stamp" && cp package.json package-lock.json "$stamp/"
      (cd "$stamp" && npm ci --no-audit --no-fund --cache "$cache/npm" >/dev/null)
    fi
    export NODE_PATH="$stamp/node_modules"
  else
    npm ci --no-audit --no-fund >/dev/null
  fi
fi

if [ -n "${NATS_URL:-}" ]; then
  : "${STORE:?set STORE}" "${POS:?set POS}" "${POSAGENT_SIM_URL:?set POSAGENT_SIM_URL}"
  node test.js flow
  exit 0
fi

source ../standalone.sh
node test.js flow
restart_test node test.js restart 6
echo "node kit: PASS"
