#!/bin/sh
# Write /etc/asterisk from the rendered templates, filling in the ARI password and the ports
# from the environment, then run Asterisk in the foreground.
set -eu
: "${ARI_PASSWORD:?set ARI_PASSWORD to the password callflow uses for ARI}"
: "${ASTERISK_HTTP_PORT:=8088}" "${ASTERISK_SIP_PORT:=5060}" "${ASTERISK_SIP_BIND:=127.0.0.1}"
: "${ASTERISK_RTP_START:=10000}" "${ASTERISK_RTP_END:=10199}"
# The start of every channel id: give each Asterisk whose callflow shares a store its own.
: "${ASTERISK_SYSTEM_NAME:=callflow}"
names="ARI_PASSWORD ASTERISK_HTTP_PORT ASTERISK_SIP_PORT ASTERISK_SIP_BIND ASTERISK_RTP_START ASTERISK_RTP_END ASTERISK_SYSTEM_NAME"
export names ARI_PASSWORD ASTERISK_HTTP_PORT ASTERISK_SIP_PORT ASTERISK_SIP_BIND ASTERISK_RTP_START \
    ASTERISK_RTP_END ASTERISK_SYSTEM_NAME
state=/var/lib/callflow-asterisk
mkdir -p "$state/db" "$state/spool/recording" "$state/run" "$state/log"
templates=/usr/share/callflow-asterisk/etc
umask 077
cd "$templates"
find . -type f | while read -r file; do
    mkdir -p "/etc/asterisk/$(dirname "$file")"
    # Literal substitution (a password may hold & / \ or $); only these names, so the
    # dialplan's own ${VARIABLES} are left alone. Keep the list as docker/asterisk/render.py.
    awk 'BEGIN { n = split(ENVIRON["names"], names, " ") }
         { line = $0
           for (i = 1; i <= n; i++) {
               key = "${" names[i] "}"; out = ""
               while ((p = index(line, key)) > 0) {
                   out = out substr(line, 1, p - 1) ENVIRON[names[i]]
                   line = substr(line, p + length(key))
               }
               line = out line
           }
           print line }' "$file" >"/etc/asterisk/$file"
done
exec asterisk -f -C /etc/asterisk/asterisk.conf
