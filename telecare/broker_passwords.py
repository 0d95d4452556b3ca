"""Mosquitto password files: hashing in Mosquitto 2's own format, reading and writing the file.

Written here rather than by calling `mosquitto_passwd` once per user: a site has hundreds of hubs and
the tool rewrites the whole file on each call. The format (`user:$7$iterations$salt$hash`, PBKDF2 with
SHA-512, base64) is checked against a real Mosquitto by tests/test_deploy_broker.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

# Mosquitto's own default is 101; more makes a stolen password file slower to attack. Each connect
# pays it once (about 10 ms here), which a reconnect storm of a few thousand hubs can afford.
PBKDF2_ITERATIONS = 20_000
_SALT_BYTES = 12


class PasswordFileError(ValueError):
    """A password file or user name that Mosquitto could not use."""


def new_password() -> str:
    """A random password for one client (URL-safe, 192 bits)."""
    return secrets.token_urlsafe(24)


def hash_password(*, password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The Mosquitto 2 (`$7$`) hash of `password` with a fresh salt."""
    salt = os.urandom(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_user_name(name: str) -> str:
    """A user name the password and ACL files can hold unambiguously."""
    if not name or ":" in name or any(char.isspace() for char in name) or name.startswith("#"):
        raise PasswordFileError(f"{name!r} cannot be a broker user name (no ':', spaces or leading '#')")
    return name


def read_password_file(*, path: Path) -> dict[str, str]:
    """User name to hash, in file order; an absent file is empty."""
    if not path.exists():
        return {}
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        user, separator, hashed = line.partition(":")
        if not separator or not hashed.startswith("$"):
            raise PasswordFileError(f"{path}:{number}: not a 'user:hash' line")
        entries[user] = hashed
    return entries


def write_private_file(*, path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing any previous one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def write_password_file(*, path: Path, entries: dict[str, str]) -> None:
    """Write `user:hash` lines (owner-only: hashes of weak passwords can be attacked offline)."""
    write_private_file(path=path, text="".join(f"{check_user_name(user)}:{hashed}\n"
                                               for user, hashed in entries.items()))
