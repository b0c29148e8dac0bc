"""Render the recipe's Asterisk config for the image, ports and password left as ${VARS}.

Run at build time with the repository on PYTHONPATH (only the standard library is needed);
docker/asterisk/entrypoint.sh fills the ${VARS} in from the container's environment at each
start, so one image serves any ports.
"""

from __future__ import annotations

import sys
from pathlib import Path

from callflow.sandbox.instance import default_phones, render_config

# The variables entrypoint.sh substitutes; keep the two lists the same.
PLACEHOLDERS = {
    "BIND_ADDR": "127.0.0.1",  # ARI and HTTP stay on loopback (host networking)
    "HTTP_PORT": "${ASTERISK_HTTP_PORT}",
    "SIP_BIND": "${ASTERISK_SIP_BIND}",
    "SIP_PORT": "${ASTERISK_SIP_PORT}",
    "RTP_START": "${ASTERISK_RTP_START}",
    "RTP_END": "${ASTERISK_RTP_END}",
    "ARI_PASSWORD": "${ARI_PASSWORD}",
    "SYSTEM_NAME": "${ASTERISK_SYSTEM_NAME}",
}


def main(out: str) -> None:
    """Write the config folder to ``out``."""
    values = {
        "ETC_DIR": "/etc/asterisk",
        "STATE_DIR": "/var/lib/callflow-asterisk",
        "ARI_USER": "callflow",
        "ARI_APP": "callflow",
        **PLACEHOLDERS,
    }
    render_config(Path(out), values, default_phones())


if __name__ == "__main__":
    main(sys.argv[1])
