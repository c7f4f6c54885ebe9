"""Which unprivileged user process-backend jobs run as (when the controller is root)."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.base import SandboxError

USER_VAR = "EVOFORGE_SANDBOX_USER"
NOBODY = (65534, 65534)


def job_user(setting: str | None = None) -> tuple[int, int]:
    """The (uid, gid) jobs run as when the controller is root: `setting` or $EVOFORGE_SANDBOX_USER
    ("uid" or "uid:gid"), else nobody. Raises SandboxError (one line) for a bad or root setting."""
    text = (setting if setting is not None else os.environ.get(USER_VAR, "")).strip()
    if not text:
        return NOBODY
    uid, _, gid = text.partition(":")
    try:
        user = (int(uid), int(gid or uid))
    except ValueError:
        raise SandboxError(f"{USER_VAR}={text!r}: expected a uid or uid:gid, e.g. 65534:65534") from None
    if min(user) <= 0:
        raise SandboxError(f"{USER_VAR}={text!r}: jobs must not run as root; pick an unprivileged uid and gid")
    return user


def chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def user_name(uid: int) -> str:
    """The user's name (for USER and LOGNAME); "evoforge" where /etc/passwd lacks it."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "evoforge"

