#!/bin/sh
# Fill in the ARI password from the environment, then run Asterisk in the foreground.
set -eu
: "${ARI_PASSWORD:?set ARI_PASSWORD to the password callflow uses for ARI}"
state=/var/lib/callflow-asterisk
mkdir -p "$state/db" "$state/spool/recording" "$state/run" "$state/log"
tmp=$(mktemp)
envsubst '${ARI_PASSWORD}' < /etc/asterisk/ari.conf > "$tmp"
cat "$tmp" > /etc/asterisk/ari.conf && rm -f "$tmp"
chmod 600 /etc/asterisk/ari.conf
exec asterisk -f -C /etc/asterisk/asterisk.conf
