"""What a process-backend job must not see, and what it must still reach (the mount plan).

In the job's private mount namespace its init (`sandbox._jobinit`) covers each "cover" path:
a folder with an empty read-only tmpfs, a file with /dev/null. Then it binds each "expose"
path back at its own place, read-only, where a cover hid it. Covered by default:

- home directories (/root, /home, the controller's $HOME) and secrets (/etc/shadow,
  /etc/gshadow, /etc/ssh, /run/secrets, ...);
- the controller's working directory and the folders holding what the job reads (the task's
  parent folder, the package root): the user's scripts, `.env` files and keys sit beside them;
- every folder on the way to an exposed path that the job's user may not enter (e.g. a 700
  pytest folder): the cover is traversable, so the exposed path below it is reachable;
- an exposed folder the job's user may not read: its entries are exposed one by one instead
  (at most 256), as the job was meant to read them.

Exposed: `SandboxJob.read_paths`, the Python installation the job runs (virtual environment
included), and the job's working directory.
"""

from __future__ import annotations

import os
import stat
import sys

SECRET_PATHS = (
    "/root", "/home", "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh",
    "/etc/sudoers", "/etc/sudoers.d", "/etc/security/opasswd", "/etc/ssl/private", "/run/secrets",
    "/var/run/secrets", "/var/lib/docker", "/var/lib/kubelet",
)
# Never derived as a cover (covering them would hide the system the job runs on); an entry of
# SECRET_PATHS or an explicit `hide` inside them is still covered.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys", "/dev",
           "/boot", "/nix", "/snap", "/var/lib", "/var/cache")
_MAX_OPENED = 256  # entries of unreadable exposed folders shown one by one (a bind mount each)


def _normal(path: str) -> str:
    return os.path.normpath(os.path.realpath(path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _derivable(path: str) -> bool:
    """Whether a derived folder (a working directory, a parent) may be covered as a whole."""
    if path.count("/") < 2 or path in ("/var/tmp", "/run/user"):  # /tmp, /work, /opt...: too coarse
        return path in ("/root", "/home")
    return not any(_inside(path, s) for s in _SYSTEM)


def _may(path: str, uid: int, gid: int, need: int = stat.S_IXOTH) -> bool:
    """Whether `uid` (no capabilities) has the `need` bits (given as the "others" bits) on `path`."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if uid == 0:
        return True
    shift = 6 if st.st_uid == uid else 3 if st.st_gid == gid else 0
    return (st.st_mode >> shift) & need == need


def _opened(path: str, uid: int, gid: int, covers: list[str], budget: list[int]) -> list[str]:
    """`path`, or, for a folder the job's user may not read, the entries it holds (the folder is
    then covered by a readable tmpfs holding them): what the job is given, it may read."""
    if not os.path.isdir(path) or _may(path, uid, gid, stat.S_IROTH | stat.S_IXOTH):
        return [path]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"{path} is not readable by the sandbox's user (uid {uid}) and holds too many entries "
                         "to show it one by one: make it readable to others (chmod o+rX)")
    covers.append(path)
    found: list[str] = []
    for name in sorted(os.listdir(path)):
        found += _opened(os.path.join(path, name), uid, gid, covers, budget)
    budget[0] -= len(found)
    return found


def runtime_paths(python: str) -> list[str]:
    """The Python installation and virtual environment the job's interpreter needs."""
    found = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, os.path.dirname(python)]
    return [_normal(p) for p in found]


def outermost(paths: list[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    return kept


def mount_plan(read_paths: tuple[str, ...] | list[str], workdir: str, python: str, uid: int, gid: int,
               extra_hidden: tuple[str, ...] = ()) -> dict[str, list]:
    """{"covers": [[path, is_dir], ...] deepest first, "exposes": [path, ...]} for one job."""
    wanted = [_normal(p) for p in read_paths if os.path.exists(p)]
    exposes, opened, budget = [], [], [_MAX_OPENED]
    for path in outermost([*wanted, *runtime_paths(python), _normal(workdir)]):
        if os.path.exists(path):
            exposes += _opened(path, uid, gid, opened, budget)
    derived = [os.path.dirname(p) for p in wanted]
    derived += [_normal(os.path.expanduser("~")), _normal(os.getcwd())]
    hidden = [_normal(p) for p in (*SECRET_PATHS, *extra_hidden)] + opened
    hidden += [p for p in (_normal(d) for d in derived)
               if _derivable(p) and not any(_inside(p, e) for e in exposes)]
    for path in exposes:  # folders on the way the job's user could not pass
        folder = os.path.dirname(path)
        while folder != "/":
            if not _may(folder, uid, gid):
                hidden.append(folder)
            folder = os.path.dirname(folder)
    covers: list[list] = []
    for path in sorted(set(hidden), key=lambda p: (-p.count("/"), p)):
        if path != "/" and path not in exposes and os.path.lexists(path):
            covers.append([path, os.path.isdir(path)])  # above, beside or inside what the job reads
    return {"covers": covers, "exposes": exposes}
