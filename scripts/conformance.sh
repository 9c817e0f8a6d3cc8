#!/usr/bin/env bash
# `make conformance`: the conformance kit against both simulators, CI style. A kit key is made in
# var/conformance/ (the simulators are told its public half as labgate's key); the simulated MES
# (JSON, and a second one speaking B2MML) and LIMS listen on local ports; `labgate conformance
# run` plays every case against each and writes signed reports to
# var/conformance/{mes,lims,mes-b2mml}/. Exit 1 if any case fails.
set -euo pipefail
BIN=${BIN:-.venv/bin}
OUT=var/conformance
KID=labgate-conformance-1
MES_PORT=${CONFORMANCE_MES_PORT:-8791}
LIMS_PORT=${CONFORMANCE_LIMS_PORT:-8792}
B2MML_PORT=${CONFORMANCE_B2MML_PORT:-8793}
mkdir -p "$OUT"
[ -f "$OUT/$KID.private.jwk.json" ] || "$BIN/labgate" keys generate --kid "$KID" --out "$OUT" >/dev/null
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait || true; }
trap stop EXIT
for partner in mes lims; do
  port=$([ "$partner" = mes ] && echo "$MES_PORT" || echo "$LIMS_PORT")
  extra=$([ "$partner" = mes ] && echo "--count 0" || echo "")
  # No labgate behind them: the LIMS's work on a conformance sample fails, and is only logged.
  "$BIN/labgate-sim" "$partner" --labgate-key "$OUT/$KID.public.jwk.json" --port "$port" \
    --url http://127.0.0.1:9 --api-key unused --key-file "$OUT/$partner-sim.private.jwk.json" \
    $extra >"$OUT/$partner-sim.log" 2>&1 &
  pids+=($!)
done
"$BIN/labgate-sim" mes --format b2mml --labgate-key "$OUT/$KID.public.jwk.json" --port "$B2MML_PORT" \
  --url http://127.0.0.1:9 --api-key unused --key-file "$OUT/mes-b2mml-sim.private.jwk.json" \
  --count 0 >"$OUT/mes-b2mml-sim.log" 2>&1 &
pids+=($!)
for sim in mes lims mes-b2mml; do
  for _ in $(seq 100); do grep -q "webhook listening" "$OUT/$sim-sim.log" && break; sleep 0.2; done
done
status=0
for partner in mes lims; do
  port=$([ "$partner" = mes ] && echo "$MES_PORT" || echo "$LIMS_PORT")
  "$BIN/labgate" conformance run --partner "$partner" --target "http://127.0.0.1:$port/" \
    --out "$OUT/$partner" --key-file "$OUT/$KID.private.jwk.json" | sed -n "2p;\$p" || status=1
done
"$BIN/labgate" conformance run --partner mes --format b2mml --target "http://127.0.0.1:$B2MML_PORT/" \
  --out "$OUT/mes-b2mml" --key-file "$OUT/$KID.private.jwk.json" | sed -n "2p;\$p" || status=1
exit $status
