#!/bin/sh
# Check the flows, build their text prompts into the volume Asterisk shares, then serve.
set -eu
config=${CALLFLOW_CONFIG:-/opt/callflow/config/docker.yaml}
callflow check /opt/callflow/config/flows/*.yaml
callflow prompts build /opt/callflow/config/flows/main.yaml --sounds-dir /var/lib/callflow/sounds
exec callflow run --config "$config"
