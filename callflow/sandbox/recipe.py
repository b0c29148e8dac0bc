"""Where the Asterisk recipe lives: the package list, config templates and dialplan."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPE_DIR = REPO_ROOT / "docker" / "asterisk"
PACKAGES_FILE = RECIPE_DIR / "packages.txt"
ETC_TEMPLATES = RECIPE_DIR / "etc"
DIALPLAN_DIR = REPO_ROOT / "dialplan"
PSTN_DIR = RECIPE_DIR / "pstn"  # the sandbox PSTN: config overlay, its dialplan, numbers


def cache_dir() -> Path:
    """The folder outside the clone that keeps rootfs builds and sandbox state."""
    return Path(os.environ.get("CALLFLOW_CACHE", "/var/cache/callflow"))


def packages() -> list[str]:
    """The Debian packages of the recipe, comments and blank lines dropped."""
    names: list[str] = []
    for line in PACKAGES_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def recipe_key() -> str:
    """A short hash of the package list: a changed list provisions a new rootfs."""
    digest = hashlib.sha256("\n".join(sorted(packages())).encode()).hexdigest()
    return digest[:12]
