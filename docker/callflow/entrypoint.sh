#!/bin/sh
# Build the flows' text prompts into the volume Asterisk shares, check everything as
# callflow run will (the settings, their flows and queues, and those prompts), then serve.
set -eu
config=${CALLFLOW_CONFIG:-/opt/callflow/config/docker.yaml}
callflow prompts build /opt/callflow/config/flows/main.yaml /opt/callflow/config/flows/agents.yaml \
    --queues /opt/callflow/config/queues.yaml --sounds-dir /var/lib/callflow/sounds
callflow check "$config" /opt/callflow/config/flows/*.yaml
callflow queues check /opt/callflow/config/queues.yaml --flow /opt/callflow/config/flows/main.yaml
exec callflow run --config "$config"
