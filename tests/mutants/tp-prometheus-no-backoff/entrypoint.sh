#!/bin/sh
# MUTANT tp-prometheus-no-backoff: remote_write retries at a constant 500 ms (min_backoff = max_backoff).
# Runs the image's command with its --config.file=FILE replaced by an edited copy of FILE; without a
# readable FILE it runs the command unchanged (prometheus then fails exactly as the real one does).
set -eu
first=1
for arg in "$@"; do
    if [ "$first" = 1 ]; then set --; first=0; fi
    case "$arg" in
        --config.file=*)
            file="${arg#--config.file=}"
            if [ -r "$file" ]; then
                sed -e 's/^\( *\)min_backoff:.*/\1min_backoff: 500ms/' \
                    -e 's/^\( *\)max_backoff:.*/\1max_backoff: 500ms/' "$file" > /tmp/prometheus.yml
                arg="--config.file=/tmp/prometheus.yml"
            fi
            ;;
    esac
    set -- "$@" "$arg"
done
exec "$@"
