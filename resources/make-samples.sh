#!/bin/sh
# Regenerates resources/samples/: one recording of every built-in scenario, made by
# `visualizer record` (run as root: the path scenarios need network namespaces).
#
#   sudo resources/make-samples.sh [DIR]        (DIR: default resources/samples)
#
# Sizes are kept small so that the repository stays small; the other parameters
# are the scenarios' defaults. PYTHON names the interpreter (default: python3).
set -eu
cd "$(dirname "$0")/.."
out=${1:-resources/samples}
py=${PYTHON:-python3}
mkdir -p "$out"
params() {   # the parameters a scenario's sample is recorded with
    case $1 in
        tcp-bulk) echo "--param megabytes=1" ;;
        tcp-zero-window) echo "--param kilobytes=16" ;;
        tcp-lossy|tcp-corruption) echo "--param kilobytes=64" ;;
        tcp-slow-start|tcp-congestion) echo "--param kilobytes=256" ;;
        *) echo "" ;;
    esac
}
for name in $("$py" -m visualizer scenarios | awk '/^[a-z][a-z0-9-]*$/ {print $1}'); do
    # shellcheck disable=SC2046  # the parameters are words
    "$py" -m visualizer record "$name" -o "$out/$name.pcapng" $(params "$name")
done
