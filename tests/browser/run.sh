#!/usr/bin/env bash
# Browser tests of the agent console and the chat widget in headless Chromium.
#
# Installs what it needs (Debian's chromium, playwright-core from npm), builds and starts the
# real service on a free loopback port with a temporary configuration and SQLite database,
# a local callback receiver standing in for the shop, runs the tests with node's test runner,
# saves screenshots to tests/browser/artifacts/, and stops everything it started.
#
#   bash tests/browser/run.sh            # builds the release binary
#   SMARTREPLY_BIN=path bash tests/browser/run.sh   # uses that binary
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="$HERE/artifacts"
cd "$ROOT"

say() { printf '[browser] %s\n' "$*"; }

# 1. Chromium, from Debian (playwright's own browser download is not used), and a CJK font
#    so that screenshots of the Chinese UI are legible.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
NEED=()
[ -x "$CHROMIUM" ] || NEED+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then NEED+=(fonts-noto-cjk); fi
if [ "${#NEED[@]}" -gt 0 ]; then
  say "installing ${NEED[*]} from Debian"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${NEED[@]}" >/dev/null
fi
[ -x "$CHROMIUM" ] || CHROMIUM=/usr/bin/chromium

# 2. playwright-core (no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f "$HERE/package-lock.json" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
else
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error)
fi

# 3. The service binary.
if [ -z "${SMARTREPLY_BIN:-}" ]; then
  say "building the service (release)"
  cargo build --release --quiet
  SMARTREPLY_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/smartreply"
fi
[ -x "$SMARTREPLY_BIN" ] || { echo "no service binary at $SMARTREPLY_BIN" >&2; exit 1; }

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

TMP="$(mktemp -d)"
PORT="$(free_port)"
CB_PORT="$(free_port)"
while [ "$CB_PORT" = "$PORT" ]; do CB_PORT="$(free_port)"; done
BASE="http://127.0.0.1:$PORT"
SERVICE_PID=""; RECEIVER_PID=""

cleanup() {
  local rc=$?
  [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null || true
  [ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null && wait "$RECEIVER_PID" 2>/dev/null || true
  mkdir -p "$ARTIFACTS"
  cp "$TMP/service.log" "$ARTIFACTS/service.log" 2>/dev/null || true
  if [ "$rc" -ne 0 ] && [ -f "$TMP/service.log" ]; then
    say "service log (last 40 lines):"
    tail -n 40 "$TMP/service.log" || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# 4. A shop's callback endpoint.
node "$HERE/callback-receiver.mjs" "$CB_PORT" "$TMP/callbacks.jsonl" &
RECEIVER_PID=$!

# 5. The service: two shops on the demo knowledge base, one agent each (alice also inspects),
#    and lena, the demo shop's lead. The demo shop is served from a copy of its knowledge base:
#    gaps.test.mjs approves an entry into it, and knowledge-base/demo must never change.
mkdir -p "$TMP/kb-demo" && cp knowledge-base/demo/*.toml "$TMP/kb-demo/"
cat > "$TMP/smartreply.toml" <<TOML
listen = "127.0.0.1:$PORT"
database_url = "sqlite://$TMP/smartreply.db"

[[shops]]
id = "demo"
knowledge_base = "$TMP/kb-demo"
webhook_secret = "browser-test-secret-demo"
callback_url = "http://127.0.0.1:$CB_PORT/replies"
widget_key = "pk_test_demo"
widget_origins = ["$BASE"]
# no random sample: the inspection queue holds exactly the 👎 answers and low-rated replies
inspection_sample_rate = 0.0

[[shops]]
id = "rival"
knowledge_base = "./knowledge-base/demo"
webhook_secret = "browser-test-secret-rival"
widget_key = "pk_test_rival"
widget_origins = ["$BASE"]

[[agents]]
name = "alice"
token = "browser-test-alice"
shops = ["demo"]
roles = ["agent", "inspector"]

[[agents]]
name = "lena"
token = "browser-test-lena"
shops = ["demo"]
roles = ["agent", "lead"]

[[agents]]
name = "mallory"
token = "browser-test-mallory"
shops = ["rival"]
TOML

say "starting $SMARTREPLY_BIN on $BASE"
"$SMARTREPLY_BIN" serve --config "$TMP/smartreply.toml" >"$TMP/service.log" 2>&1 &
SERVICE_PID=$!
for i in $(seq 1 240); do
  if node -e "fetch('$BASE/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then break; fi
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then say "the service exited during start-up"; exit 1; fi
  [ "$i" -eq 240 ] && { say "the service was not ready within 120 s"; exit 1; }
  sleep 0.5
done

# 6. The tests.
rm -rf "$ARTIFACTS"; mkdir -p "$ARTIFACTS"
cd "$HERE"
SR_BASE_URL="$BASE" SR_SHOP=demo SR_AGENT_TOKEN=browser-test-alice \
SR_OTHER_SHOP=rival SR_OTHER_TOKEN=browser-test-mallory SR_LEAD_TOKEN=browser-test-lena \
SR_WEBHOOK_SECRET=browser-test-secret-demo \
SR_CALLBACK_LOG="$TMP/callbacks.jsonl" SR_ARTIFACTS="$ARTIFACTS" CHROMIUM_PATH="$CHROMIUM" \
  node --test --test-concurrency=1 tests/
say "screenshots in $ARTIFACTS"
