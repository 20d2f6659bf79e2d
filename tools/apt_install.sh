# Sourced by tools/install_*.sh: install one Debian package that a group of
# tests needs, or say why not.  Never fails the build: without the package
# those tests are skipped, each with its reason.
#
#   apt_install PACKAGE TESTS CHECK...
#
# PACKAGE is installed with apt-get (root only), and CHECK... is then run as a
# command that succeeds once the package works.  Returns 0 when it does (the
# seconds taken are in APT_SECONDS); otherwise says why, with the last lines
# of apt-get's log, and returns 1.

apt_install() {
    local package=$1 tests=$2 log start
    shift 2
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo ">> Debian's $package is missing and this is not root with apt-get:" \
             "$tests will be skipped (as root: apt-get install $package)"
        return 1
    fi
    echo ">> installing Debian's $package for the $tests (once per machine)"
    start=$(date +%s)
    log=$(mktemp)
    if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
       && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >>"$log" 2>&1 \
       && "$@"; then
        APT_SECONDS=$(( $(date +%s) - start ))
        rm -f "$log"
        return 0
    fi
    echo ">> apt-get could not install $package; $tests will be skipped. Last lines of its log:"
    tail -n 5 "$log"
    rm -f "$log"
    return 1
}
