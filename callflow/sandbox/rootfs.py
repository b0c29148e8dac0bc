"""Provision a Debian sid root filesystem with Asterisk, cached outside the clone."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from callflow.sandbox.recipe import cache_dir, packages, recipe_key

log = logging.getLogger(__name__)

READY_MARK = ".callflow-rootfs-ready"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class RootfsError(Exception):
    """The Asterisk rootfs could not be built."""


def rootfs_path(base: Path | None = None) -> Path:
    """The rootfs folder for the current package list."""
    return (base or cache_dir()) / f"rootfs-sid-{recipe_key()}"


def provision_rootfs(base: Path | None = None, *, mirror: str | None = None) -> Path:
    """Return a ready rootfs, building it with debootstrap first if the cache has none.

    The build goes to a temporary folder and is renamed into place only when complete, so an
    interrupted build is never mistaken for a ready one.
    """
    target = rootfs_path(base)
    if (target / READY_MARK).exists():
        return target
    if os.geteuid() != 0:
        raise RootfsError("building the Asterisk rootfs needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise RootfsError("debootstrap is not installed: apt-get install debootstrap")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    cmd = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(packages()),
        "sid",
        str(partial),
        mirror or os.environ.get("CALLFLOW_DEBIAN_MIRROR", DEFAULT_MIRROR),
    ]
    log.info("provisioning Asterisk rootfs: %s", " ".join(cmd))
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RootfsError(f"debootstrap failed with exit {result.returncode}:\n{tail}")
    # Debian's package starts nothing in a chroot, but leaves an empty policy; make sure
    # no daemon is ever started by a later apt run inside.
    (partial / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (partial / "usr/sbin/policy-rc.d").chmod(0o755)
    (partial / READY_MARK).write_text(f"{time.monotonic() - started:.1f}\n")
    partial.rename(target)
    log.info("rootfs ready in %.1f s: %s", time.monotonic() - started, target)
    return target
