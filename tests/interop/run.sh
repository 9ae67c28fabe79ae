#!/bin/sh
# Entry point of the interop suite (make interop): real Prosody and ejabberd
# next to s2sd in a private network namespace. See tests/interop/README.md.
#   sh tests/interop/run.sh BUILD [--self-check | --s2sd] [more options]
# INTEROP=self-check|s2sd selects the same as the options.
set -eu
build=${1:?usage: run.sh BUILD [options]}
shift
here=$(dirname "$0")
# Debian's python3: slixmpp is installed for it, not for another python3 on PATH.
exec /usr/bin/python3 -B "$here/interop.py" "$build" "$@"
