#!/bin/sh
# make run: run s2sd in the foreground on the sample configuration in etc/,
# with its state (dialback secret, self-signed certificate) in run/, made on
# the first run. Ctrl-C stops it.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/run"
mkdir -p "$state"
chmod 700 "$state"
if [ ! -s "$state/dialback.secret" ]; then
	umask 077
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/dialback.secret"
	echo "run: generated $state/dialback.secret"
fi
if [ ! -s "$state/cert.pem" ]; then
	"$root/$build/s2sctl" -c "$root/etc/s2sd.conf" cert selfsigned \
		"$state/cert.pem" "$state/key.pem"
fi
set -- -f -c "$root/etc/s2sd.conf" \
	-o "tls.cert_files=$state/cert.pem" -o "tls.key_files=$state/key.pem" \
	-o "general.state_dir=$state" \
	-o "general.control_socket=$state/control.sock" \
	-o "federation.dialback_secret_file=$state/dialback.secret"
# s2sd refuses to keep root unless told: this is a demo run on files that
# belong to whoever runs it (production: general.user = s2sd).
if [ "$(id -u)" = 0 ]; then
	set -- "$@" -o general.user=root
	echo "run: as root (general.user = root); in production set general.user"
fi
echo "run: $build/s2sd $*"
exec "$root/$build/s2sd" "$@"
