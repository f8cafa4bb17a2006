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
# As root, caremaild binds its ports and then runs as [server] user: "caremail" unless the
# configuration names another, a user of its own (not "nobody", which other daemons share).
# Create it when missing, as the packaging does.
if [ "$(id -u)" = 0 ]; then
  CM_USER=$(awk -F'"' '/^\[/ { s = ($0 == "[server]") }
                       s && /^[[:space:]]*user[[:space:]]*=/ { print $2; found = 1; exit }
                       END { if (!found) print "caremail" }' "$CONFIG")
  if [ -n "$CM_USER" ] && ! id -u "$CM_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$CM_USER"
    echo "run.sh: created the system user '$CM_USER' for caremaild to run as"
  fi
fi
echo "Starting caremaild (config $CONFIG, data in ./var). Try, in another terminal:"
if [ ! -e var/admin.token ] && [ -z "${CAREMAIL_ADMIN_PASSWORD:-}" ]; then
  # The generated one-time password must be changed before caremailctl may do anything else.
  echo "  $BUILD/src/caremailctl password set --current ${CAREMAIL_ADMIN_ADDRESS:-admin@care.example}   # first: the one-time password, then your own"
fi
cat <<MSG
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
