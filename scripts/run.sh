#!/usr/bin/env bash
# `make run`: start caremaild in the foreground with embedded storage under ./var.
# On first start it creates the national organisation and a first national administrator
# (CAREMAIL_ADMIN_ADDRESS / CAREMAIL_ADMIN_PASSWORD, or a generated one-time password that
# is printed once). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CONFIG=${CAREMAIL_CONFIG:-config/dev.toml}
BIN="$BUILD/src/caremaild"
[ -x "$BIN" ] || { echo "run.sh: $BIN is missing; run 'make build' first" >&2; exit 1; }
"$BIN" --config "$CONFIG" --check-config >/dev/null
cat <<MSG
Starting caremaild (config $CONFIG, data in ./var). Try, in another terminal:
  curl http://127.0.0.1:8080/healthz
  $BUILD/src/caremailctl org list
  $BUILD/src/caremailctl account create --address jo.bloggs@care.example --ods X26 --name "Jo Bloggs" --password-stdin
  curl -si -H 'Content-Type: application/json' -d '{"address":"jo.bloggs@care.example","password":"..."}' \
       http://127.0.0.1:8080/api/v1/sessions | grep -o 'cm_session=[^;]*' > /tmp/cm.cookie   # no HTTP Basic
  curl -H "Cookie: \$(cat /tmp/cm.cookie)" http://127.0.0.1:8080/api/v1/accounts/jo.bloggs@care.example/mailboxes
  curl -H "Cookie: \$(cat /tmp/cm.cookie)" 'http://127.0.0.1:8080/api/v1/directory/search?q=jo&typeahead=1'
  ldapsearch -x -H ldap://127.0.0.1:3890 -D jo.bloggs@care.example -W -b o=caremail '(cn=jo*)'
MSG
exec "$BIN" --config "$CONFIG"
