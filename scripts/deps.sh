#!/usr/bin/env bash
# Installs every Debian package Caremail needs to build, test and run.
# Idempotent: when everything is present it only runs dpkg-query and exits.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config make git clang libclang-rt-14-dev
  # libraries (see ../shared/DESIGN.md)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libsqlite3-dev libsodium-dev libgmime-3.0-dev libxapian-dev zlib1g-dev
  libspdlog-dev libfmt-dev libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # identity: TOTP (liboath); john's password.lst, source of data/common-passwords.txt
  liboath-dev john-data
  # directory search: Unicode folding (accents, case) for names
  libutf8proc-dev
  # real clients used by the tests and tools used by the scripts
  python3 python3-aiosmtpd curl openssl sqlite3 swaks libnet-ssleay-perl libauthen-sasl-perl procps
  # real IMAP clients for tests/integration/test_imap_clients.py
  isync libsasl2-modules neomutt tmux
  # the OpenAPI check (PyYAML); LDAP clients for the directory (ldapsearch, python3-ldap3,
  # Thunderbird's address-book autocomplete, run headless in tests/integration/test_thunderbird.py;
  # Thunderbird is also the IMAP client of test_thunderbird_imap.py)
  python3-yaml python3-ldap3 ldap-utils thunderbird
  # imaptest (../shared/tools/imaptest, built by tests/integration/imaptest_run.py): it builds
  # against dovecot-dev and links Dovecot's libdovecot.so, which only dovecot-core ships
  dovecot-core dovecot-dev autoconf automake libtool
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
