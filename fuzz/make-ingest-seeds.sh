#!/bin/sh
# Regenerates fuzz/corpus/ingest/ seeds (needs the zstd command-line tool,
# Debian package "zstd"; only for regenerating, the seeds are committed).
# Seed layout (see fuzz_ingest.c): mode byte, first_seq-1, count-1, zstd body.
set -eu
cd "$(dirname "$0")/corpus/ingest"
seed() { # name mode first count ndjson
  printf "$2$3$4" >"$1"
  printf '%s' "$5" | zstd -q -c --no-check >>"$1"
}
R1='{"seq":1,"ts":1764380000123,"source":"/var/log/app.log","line":"hello"}
'
R12='{"seq":1,"ts":1,"source":"/var/log/a","line":"tab\there \"q\" \\\\ \u0001"}
{"seq":2,"ts":2,"source":"/var/log/a","line":"caf\u00e9 ok"}
'
R5='{"seq":6,"ts":10,"source":"s","line":"a"}
{"seq":7,"ts":11,"source":"s","line":"b"}
{"seq":8,"ts":12,"source":"s","line":"c"}
'
seed one_record '\000' '\000' '\000' "$R1"
seed one_record_cloud '\001' '\000' '\000' "$R1"
seed escapes '\000' '\000' '\001' "$R12"
seed escapes_cloud '\001' '\000' '\001' "$R12"
seed three_from_6 '\000' '\005' '\002' "$R5"
seed three_from_6_cloud '\001' '\005' '\002' "$R5"
