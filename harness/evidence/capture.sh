#!/bin/sh
# startle capture: a field node's evidence about one agent container, in one .tar.gz.
#
#   sh capture.sh [-o OUT.tar.gz] [-s SINCE] [-r NAME]... [-l LAUNCHER_STATE_FILE] [-n] CONTAINER
#
# -n: leave out the contents of the bind-mounted files (by default the small text files the agent
# reads through its bind mounts, its config, are kept under mountfiles/, redacted like the rest).
#
# Needs only a POSIX shell, `docker`, `tar` and `gzip` (and awk, sed, stat from any base system).
# It never changes the node: it reads `docker inspect`, logs, events and the host's files, writes
# into a fresh temporary folder and then OUT (default ./startle-evidence-<container>-<time>.tar.gz).
#
# Secrets are redacted before anything is written to OUT: the value of every env variable whose
# name matches the default list (TOKEN SECRET PASSWORD PASSWD PASS KEY CREDENTIAL AUTH CERT
# PRIVATE SESSION COOKIE) or a -r NAME (a name part, case-insensitive) is replaced by
# <redacted:NAME> wherever it appears (inspect, logs, events, state), and so are bearer tokens,
# JWTs and key=value pairs of those names in the logs. manifest.json lists what was redacted.
#
# Exit codes: 0 written; 2 usage or no such container; 3 docker or tar failed.
set -u

VERSION=1
SINCE=30m
OUT=
STATE_FILE=
EXTRA_NAMES=
NO_FILES=
DEFAULT_NAMES="TOKEN SECRET PASSWORD PASSWD PASS KEY CREDENTIAL AUTH CERT PRIVATE SESSION COOKIE"

usage() {
    echo "usage: capture.sh [-o OUT.tar.gz] [-s SINCE] [-r NAME]... [-l STATE_FILE] [-n] CONTAINER" >&2
    exit 2
}

while getopts "o:s:r:l:nh" opt; do
    case "$opt" in
        o) OUT=$OPTARG ;;
        s) SINCE=$OPTARG ;;
        r) EXTRA_NAMES="$EXTRA_NAMES $OPTARG" ;;
        l) STATE_FILE=$OPTARG ;;
        n) NO_FILES=1 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
CONTAINER=$1
command -v docker >/dev/null 2>&1 || { echo "capture: docker is not on PATH" >&2; exit 3; }
ID=$(docker inspect --format '{{.Id}}' "$CONTAINER" 2>/dev/null) || {
    echo "capture: no container $CONTAINER (docker ps -a lists them)" >&2; exit 2; }
NAME=$(docker inspect --format '{{.Name}}' "$ID" | sed 's|^/||')
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
[ -n "$OUT" ] || OUT="./startle-evidence-$NAME-$STAMP.tar.gz"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/startle-capture.XXXXXX") || exit 3
trap 'rm -rf "$WORK"' EXIT INT TERM
RAW=$WORK/raw
B=$WORK/bundle
mkdir -p "$RAW" "$B"

# --- what docker knows ----------------------------------------------------------------------
docker inspect "$ID" >"$RAW/container.json" || exit 3
IMAGE=$(docker inspect --format '{{.Image}}' "$ID")
docker image inspect "$IMAGE" >"$RAW/image.json" 2>"$RAW/image.err" || echo "[]" >"$RAW/image.json"
docker info --format '{{json .}}' >"$RAW/docker-info.json" 2>/dev/null || echo "{}" >"$RAW/docker-info.json"
docker version --format '{{json .}}' >"$RAW/docker-version.json" 2>/dev/null || echo "{}" >"$RAW/docker-version.json"
docker logs --timestamps --tail 5000 "$ID" >"$RAW/logs.txt" 2>&1
# --until the next second: an event of this very second is kept (it blocks at most 1 s)
docker events --since "$SINCE" --until "$(($(date +%s) + 1))" --filter "container=$ID" \
    --format '{{json .}}' >"$RAW/events.jsonl" 2>/dev/null || : >"$RAW/events.jsonl"

# --- the host ---------------------------------------------------------------------------------
{
    echo "arch=$(uname -m)"
    echo "kernel=$(uname -r)"
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = "cgroup2fs" ]; then echo "cgroup=2"; else echo "cgroup=1"; fi
    echo "captured_at=$STAMP"
} >"$RAW/host.txt"
{
    if [ -d /proc/sys/fs/binfmt_misc ]; then
        echo "status=$(cat /proc/sys/fs/binfmt_misc/status 2>/dev/null || echo unmounted)"
        for entry in /proc/sys/fs/binfmt_misc/*; do
            case "${entry##*/}" in status|register) continue ;; esac
            [ -f "$entry" ] || continue
            echo "[${entry##*/}]"
            cat "$entry" 2>/dev/null
        done
    else
        echo "status=absent"
    fi
} >"$RAW/binfmt.txt"

# stat of every bind-mount source and mapped device: path, then "missing" or type size mode uid gid
stat_paths() {
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        if [ -e "$path" ] || [ -L "$path" ]; then
            printf '%s\t%s\n' "$path" "$(stat -c '%F	%s	%a	%u	%g' "$path" 2>/dev/null || echo unreadable)"
        else
            printf '%s\tmissing\n' "$path"
        fi
    done
}
docker inspect --format '{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}}{{"\n"}}{{end}}{{end}}' "$ID" \
    | stat_paths >"$RAW/mounts.tsv"
docker inspect --format '{{range .HostConfig.Devices}}{{.PathOnHost}}{{"\n"}}{{end}}' "$ID" \
    | stat_paths >"$RAW/devices.tsv"
# the small text files the agent reads through its bind mounts (its config): a bind-mounted file,
# or the regular files right inside a bind-mounted folder, each under 64 KiB, at most 32 per mount,
# kept under mountfiles/ at their path *in the container* (redacted like the rest), each one's stat
# in mountfiles.tsv (path in the container, type, size, mode, uid, gid); -n: none of this
if [ -z "$NO_FILES" ]; then
    docker inspect --format '{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}}{{"\t"}}{{.Destination}}{{"\n"}}{{end}}{{end}}' "$ID" \
    | while IFS="$(printf '\t')" read -r source destination; do
        [ -n "$source" ] && [ -r "$source" ] || continue
        if [ -f "$source" ]; then
            set -- "$source"; base=$(dirname "$destination"); single=$(basename "$destination")
        elif [ -d "$source" ]; then
            set -- "$source"/*; base=$destination; single=
        else
            continue
        fi
        count=0
        for file in "$@"; do
            [ -f "$file" ] || continue
            count=$((count + 1)); [ "$count" -le 32 ] || break
            inside="$base/${single:-${file##*/}}"
            printf '%s\t%s\n' "${inside#/}" "$(stat -c '%F	%s	%a	%u	%g' "$file")" >>"$RAW/mountfiles.tsv"
            [ -r "$file" ] && [ "$(wc -c <"$file")" -le 65536 ] || continue
            mkdir -p "$(dirname "$RAW/mountfiles/${inside#/}")" && cp "$file" "$RAW/mountfiles/${inside#/}"
        done
    done
fi
RESOLV=$(docker inspect --format '{{.ResolvConfPath}}' "$ID")
{ cat "$RESOLV" 2>/dev/null || cat /etc/resolv.conf 2>/dev/null; } >"$RAW/resolv.conf"
{ ip route 2>/dev/null || cat /proc/net/route 2>/dev/null; } >"$RAW/routes.txt"
if [ -n "$STATE_FILE" ]; then
    cp "$STATE_FILE" "$RAW/launcher-state.txt" 2>/dev/null || echo "unreadable: $STATE_FILE" >"$RAW/launcher-state.txt"
fi

# --- redaction: secrets never reach OUT ---------------------------------------------------------
# env NAME=VALUE pairs whose NAME matches, from the inspect (one per line, as Docker holds them),
# each value twice: as it is (logs) and JSON-escaped (inspect and events are JSON)
docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$ID" >"$WORK/env.txt"
docker inspect --format '{{range .Config.Env}}{{json .}}{{println}}{{end}}' "$ID" >"$WORK/env.json.txt"
awk -v names="$DEFAULT_NAMES $EXTRA_NAMES" -v json="$WORK/env.json.txt" '
    BEGIN { n = split(toupper(names), part, " ") }
    {
        escaped = ""; if ((getline escaped < json) > 0) escaped = substr(escaped, 2, length(escaped) - 2)
        eq = index($0, "="); if (eq < 2) next
        name = substr($0, 1, eq - 1); value = substr($0, eq + 1)
        for (i = 1; i <= n; i++) if (part[i] != "" && index(toupper(name), part[i])) {
            if (length(value) < 4) break
            print name "\t" value
            escaped = substr(escaped, length(name) + 2)
            if (escaped != value && escaped != "") print name "\t" escaped
            break
        }
    }' "$WORK/env.txt" >"$WORK/secrets.tsv"

# replace every secret value literally (no regex: a value may hold any character), then tokens
redact() {
    awk -v secrets="$WORK/secrets.tsv" '
        BEGIN {
            FS = "\t"; n = 0
            while ((getline line < secrets) > 0) {
                t = index(line, "\t"); n++
                name[n] = substr(line, 1, t - 1); value[n] = substr(line, t + 1)
            }
        }
        {
            out = $0
            for (i = 1; i <= n; i++) {
                s = ""; rest = out
                while ((p = index(rest, value[i])) > 0) {
                    s = s substr(rest, 1, p - 1) "<redacted:" name[i] ">"
                    rest = substr(rest, p + length(value[i])); hits[name[i]]++
                }
                out = s rest
            }
            print out
        }
        END { for (k in hits) print k "\t" hits[k] > (secrets ".hits") }' "$1" \
    | sed -e 's/\([Bb]earer\) [A-Za-z0-9._~+\/=-]\{8,\}/\1 <redacted:bearer>/g' \
          -e 's/eyJ[A-Za-z0-9_-]\{8,\}\.[A-Za-z0-9_-]\{8,\}\.[A-Za-z0-9_-]*/<redacted:jwt>/g' \
          -e 's/\(\([Tt][Oo][Kk][Ee][Nn]\|[Ss][Ee][Cc][Rr][Ee][Tt]\|[Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd]\|[Aa][Pp][Ii]_\?[Kk][Ee][Yy]\)["]\? *[=:] *["]\?\)[^<" ,;&][^" ,;&]\{3,\}/\1<redacted:value>/g'
    if [ -f "$WORK/secrets.tsv.hits" ]; then cat "$WORK/secrets.tsv.hits" >>"$WORK/hits.tsv"; rm -f "$WORK/secrets.tsv.hits"; fi
}
: >"$WORK/hits.tsv"
(cd "$RAW" && find . -type f) | while IFS= read -r file; do
    mkdir -p "$B/$(dirname "$file")"
    redact "$RAW/$file" >"$B/$file"
done
rm -rf "$RAW"
# fail closed: a secret value still present anywhere means no bundle at all
while IFS="$(printf '\t')" read -r name value; do
    if grep -rqF -e "$value" "$B"; then
        echo "capture: the value of $name survived redaction; no bundle written (report this)" >&2
        exit 3
    fi
done <"$WORK/secrets.tsv"

# --- manifest ---------------------------------------------------------------------------------
json_list() {  # lines on stdin -> a JSON array of strings (names, file names: no quotes inside)
    awk 'BEGIN { printf "[" } { printf "%s\"%s\"", (NR > 1 ? ", " : ""), $0 } END { printf "]" }'
}
{
    echo "{"
    echo "  \"startle_evidence\": $VERSION,"
    echo "  \"container\": \"$NAME\","
    echo "  \"container_id\": \"$ID\","
    echo "  \"captured_at\": \"$STAMP\","
    echo "  \"events_since\": \"$SINCE\","
    printf '  "files": %s,\n' "$(cd "$B" && find . -type f | sed 's|^\./||' | sort | json_list)"
    printf '  "mount_files": %s,\n' "$([ -z "$NO_FILES" ] && echo true || echo false)"
    printf '  "redacted_env": %s,\n' "$(cut -f1 "$WORK/secrets.tsv" | sort -u | json_list)"
    printf '  "redacted_names": %s,\n' "$(echo $DEFAULT_NAMES $EXTRA_NAMES | tr ' ' '\n' | json_list)"
    printf '  "redacted_patterns": ["bearer", "jwt", "token/secret/password/api_key = value"],\n'
    printf '  "redacted_occurrences": {%s}\n' "$(awk -F '\t' '{ c[$1] += $2 } END { s = ""; for (k in c) { printf "%s\"%s\": %d", s, k, c[k]; s = ", " } }' "$WORK/hits.tsv")"
    echo "}"
} >"$B/manifest.json"

tar -czf "$OUT" -C "$B" . || { echo "capture: tar failed writing $OUT" >&2; exit 3; }
echo "capture: $OUT ($(wc -c <"$OUT" | tr -d ' ') bytes; $(cut -f1 "$WORK/secrets.tsv" | sort -u | wc -l | tr -d ' ') env secret(s) redacted)"
