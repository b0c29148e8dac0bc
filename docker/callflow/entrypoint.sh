#!/bin/sh
# Check the flows, build their text prompts into the volume Asterisk shares, then serve.
set -eu
config=${CALLFLOW_CONFIG:-/opt/callflow/config/docker.yaml}
callflow check "$config" /opt/callflow/config/flows/*.yaml   # the settings, their flows and queues
callflow queues check /opt/callflow/config/queues.yaml --flow /opt/callflow/config/flows/main.yaml
callflow prompts build /opt/callflow/config/flows/main.yaml /opt/callflow/config/flows/agents.yaml \
    --queues /opt/callflow/config/queues.yaml --sounds-dir /var/lib/callflow/sounds
exec callflow run --config "$config"
