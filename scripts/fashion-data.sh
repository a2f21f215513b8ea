#!/usr/bin/env bash
# Finds or fetches Fashion-MNIST and prints the folder that holds its four
# IDX files (the demo's data step; scripts/demo.sh runs it):
#   1. Debian's dataset-fashion-mnist, if installed (FASHION_DEBIAN_DIR,
#      default /usr/share/datasets/fashion-mnist);
#   2. else, as root with apt-get, that package installed now (FASHION_APT=0
#      skips this);
#   3. else the official download (FASHION_URL) into DATA_DIR (default
#      ~/.cache/rlkd/fashion-mnist), with curl, wget or python3; a file is
#      written under a .part name and renamed when complete, so an
#      interrupted download is fetched again, and files already there are
#      kept. A failed download exits 1 with one line naming the file.
set -euo pipefail
DEBIAN_DATA=${FASHION_DEBIAN_DIR:-/usr/share/datasets/fashion-mnist}
DATA_DIR=${DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rlkd/fashion-mnist}
URL=${FASHION_URL:-http://fashion-mnist.s3-website.eu-central-1.amazonaws.com}
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

have_data() {
  local f
  for f in $FILES; do [ -s "$1/$f" ] || return 1; done
}

fetch() {  # fetch URL FILE
  if command -v curl >/dev/null; then curl -fsSL -o "$2.part" "$1"
  elif command -v wget >/dev/null; then wget -q -O "$2.part" "$1"
  else python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2.part"
  fi && mv "$2.part" "$2"
}

if have_data "$DEBIAN_DATA"; then echo "$DEBIAN_DATA"; exit 0; fi
if [ "${FASHION_APT:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null &&
   apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 && have_data "$DEBIAN_DATA"; then
  echo "$DEBIAN_DATA"; exit 0
fi
if ! have_data "$DATA_DIR"; then
  mkdir -p "$DATA_DIR"
  for f in $FILES; do
    [ -s "$DATA_DIR/$f" ] || fetch "$URL/$f" "$DATA_DIR/$f" 2>/dev/null || {
      rm -f "$DATA_DIR/$f.part"
      echo "fashion-data: could not download $URL/$f; install Debian's dataset-fashion-mnist or" \
           "put the four IDX files in $DATA_DIR" >&2
      exit 1
    }
  done
fi
echo "$DATA_DIR"
