#!/bin/sh
# Install the Debian packages listed in the given files that are not installed yet:
# one 'apt-get update', then one 'apt-get install -y' of exactly what is missing.
# Usage: scripts/deps.sh scripts/packages.txt [more lists...]
set -eu
missing=""
for pkg in $(sed -e 's/#.*//' "$@" | tr -s ' \t' '\n\n' | sort -u); do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "deps: need root (or sudo) to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
# Keep apt from starting system-wide services (prosody, ejabberd, dnsmasq) that
# would grab the ports tests use; only if the admin has no policy-rc.d of their own.
prc=/usr/sbin/policy-rc.d
own_prc=0
if [ ! -e "$prc" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$prc" >/dev/null
	$SUDO chmod 755 "$prc"
	own_prc=1
fi
trap '[ "$own_prc" = 1 ] && $SUDO rm -f "$prc"' EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
