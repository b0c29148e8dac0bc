"""A real Asterisk 22 on loopback, from Debian sid in a chroot: for tests, demos and development.

The recipe (package list, config templates) lives in ``docker/asterisk/`` and the dialplan in
``dialplan/``, so the Docker image and this sandbox run the same Asterisk.
"""

from callflow.sandbox.instance import Phone, Sandbox, SandboxError, SandboxInfo, default_phones
from callflow.sandbox.rootfs import provision_rootfs

__all__ = [
    "Phone",
    "Sandbox",
    "SandboxError",
    "SandboxInfo",
    "default_phones",
    "provision_rootfs",
]
