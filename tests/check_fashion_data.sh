#!/usr/bin/env bash
# The demo's data step (scripts/fashion-data.sh) on every branch, offline: a
# Debian folder that holds the files; no such folder, so the download,
# here from a local HTTP server (python3 -m http.server) serving a fake
# Fashion-MNIST; the downloaded files reused with no server; a file the
# server can no longer give (one clear line, exit 1, no .part left).
# Prints PASS/FAIL/SKIP lines for run.sh.
set -u
PY=/usr/bin/python3
status=0
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
pass() { echo "PASS fashion-data: $*"; }
fail() { echo "FAIL fashion-data: $*"; status=1; }

if ! "$PY" -c 'import http.server' 2>/dev/null; then
  echo "SKIP fashion-data: no $PY for the fake data set and its server"
  exit 77
fi
mkdir -p "$tmp/served" "$tmp/debian"
"$PY" tests/write_fake_idx.py "$tmp/served" 10 40 10
cp "$tmp/served"/*.gz "$tmp/debian/"

# find [ENV...]: the script with apt off and no Debian folder unless given
find() {
  env FASHION_APT=0 FASHION_DEBIAN_DIR="$tmp/none" DATA_DIR="$tmp/cache" "$@" \
    scripts/fashion-data.sh >"$tmp/out" 2>"$tmp/err"
}
same_files() {
  local f
  for f in "$tmp/served"/*.gz; do cmp -s "$f" "$1/$(basename "$f")" || return 1; done
}

if find FASHION_DEBIAN_DIR="$tmp/debian" && [ "$(cat "$tmp/out")" = "$tmp/debian" ]; then
  pass "an installed Debian folder is used as it is"
else
  fail "the Debian folder: printed '$(cat "$tmp/out")', $(cat "$tmp/err")"
fi

# A free port: the server binds it, and says so on its first line.
"$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$tmp/served" >"$tmp/server.log" 2>&1 &
server=$!
port=""
for _ in $(seq 50); do
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  fail "the local HTTP server did not start: $(cat "$tmp/server.log")"
  exit 1
fi
url=http://127.0.0.1:$port

if find FASHION_URL="$url" && [ "$(cat "$tmp/out")" = "$tmp/cache" ] &&
   same_files "$tmp/cache" && ! ls "$tmp/cache"/*.part >/dev/null 2>&1; then
  pass "without a Debian folder the four files are downloaded into DATA_DIR ($url)"
else
  fail "the download: printed '$(cat "$tmp/out")', $(cat "$tmp/err")"
fi

kill "$server"
wait "$server" 2>/dev/null
server=""
if find FASHION_URL="$url" && [ "$(cat "$tmp/out")" = "$tmp/cache" ]; then
  pass "files already downloaded are used with no server"
else
  fail "the second run: printed '$(cat "$tmp/out")', $(cat "$tmp/err")"
fi

# One file missing from the cache, the server gone: one line, exit 1.
rm "$tmp/cache/t10k-labels-idx1-ubyte.gz"
if ! find FASHION_URL="$url" && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
   grep -q "could not download $url/t10k-labels-idx1-ubyte.gz" "$tmp/err" &&
   ! ls "$tmp/cache"/*.part >/dev/null 2>&1; then
  pass "a failed download: $(cat "$tmp/err")"
else
  fail "a failed download: exit 0 or output '$(cat "$tmp/out")', stderr: $(cat "$tmp/err")"
fi
exit $status
