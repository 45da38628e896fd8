#!/bin/sh
# MUTANT tp-mosquitto-constant: reconnect at a constant 1 s (restart_timeout 1 1) instead of backing off.
# Runs the image's command with its -c FILE replaced by an edited copy of FILE; without a readable
# FILE it runs the command unchanged (mosquitto then fails exactly as the real one does).
set -eu
out=""
prev=""
for arg in "$@"; do
    if [ "$prev" = "-c" ] && [ -r "$arg" ]; then
        sed -e 's/^restart_timeout .*/restart_timeout 1 1/' "$arg" > /tmp/mosquitto.conf
        out="$arg"
    fi
    prev="$arg"
done
if [ -z "$out" ]; then
    exec "$@"
fi
first=1
for arg in "$@"; do
    if [ "$first" = 1 ]; then set --; first=0; fi
    if [ "$arg" = "$out" ]; then set -- "$@" /tmp/mosquitto.conf; else set -- "$@" "$arg"; fi
done
exec "$@"
