"""What a Docker-sandbox container is made of: the image, the host runtime it mounts, its user.

Two image modes:

- local (no `sandbox.image`): a minimal image made here with `docker import` from a tarball of
  a few kilobytes (/etc/passwd and /etc/group naming the sandbox user, empty mount points, and
  the host's top-level links such as /lib -> usr/lib). It holds no program at all: the host's
  /usr, its Python installation and virtual environment are bind-mounted read-only at the same
  paths, so the container runs the very interpreter and packages the controller runs. Needs
  no registry. The tag is a hash of the tarball, so it is made once per machine and layout.
- an image of the user's (`sandbox.image`, e.g. built from sandbox/Dockerfile): brings its own
  interpreter and packages; nothing of the host runtime is mounted.

Parent folders of a mount are made inside the container with mode 755, so an interpreter under
a private home (/root is 700 here) runs for a non-root container user as long as the mounted
folder itself is readable to others.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import threading
from pathlib import Path

LOCAL_REPOSITORY = "evoforge-local"
NOBODY = 65534
_TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
_MOUNT_POINTS = ("dev", "etc", "job", "proc", "sys", "tmp")
_lock = threading.Lock()


def container_user() -> tuple[int, int]:
    """(uid, gid) jobs run as: the controller's own when it is not root, else nobody."""
    uid = os.geteuid()
    return (uid, os.getegid()) if uid != 0 else (NOBODY, NOBODY)


def _links() -> dict[str, str]:
    """The host's top-level links into /usr (merged-/usr systems): name -> target."""
    found = {}
    for name in _TOP_LEVEL:
        path = Path("/") / name
        if path.is_symlink():
            found[name] = os.readlink(path)
    return found


def runtime_paths() -> list[str]:
    """Host paths a local-image container mounts read-only: libraries, programs, Python."""
    paths = ["/usr"]
    paths += [f"/{name}" for name in _TOP_LEVEL if os.path.isdir(f"/{name}") and not os.path.islink(f"/{name}")]
    paths += [f"/etc/{name}" for name in _ETC if os.path.exists(f"/etc/{name}")]
    paths += [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix]
    return outermost(paths)


def outermost(paths: list[str]) -> list[str]:
    """The paths (made absolute, normalised, de-duplicated) that are not inside another one."""
    normal = sorted({os.path.normpath(os.path.abspath(p)) for p in paths})
    kept: list[str] = []
    for path in normal:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def local_image_tar(uid: int, gid: int) -> bytes:
    """The local image's whole content, byte for byte the same for the same uid and layout."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in _MOUNT_POINTS:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, target in sorted(_links().items()):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        user = "root" if uid == 0 else "evoforge"
        files = {
            "etc/passwd": f"root:x:0:0::/root:/usr/sbin/nologin\n{user}:x:{uid}:{gid}::/job:/usr/sbin/nologin\n",
            "etc/group": f"root:x:0:\n{user}:x:{gid}:\n",
        }
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_local_image(api, uid: int, gid: int) -> str:
    """The local image's tag, importing it first if the daemon lacks it; stale tags are removed."""
    data = local_image_tar(uid, gid)
    tag = f"{LOCAL_REPOSITORY}:{hashlib.sha256(data).hexdigest()[:12]}"
    # Asked of the daemon every time (once per sandbox), never remembered: one process may talk
    # to several daemons, or to one that came back with another data root, lacking the image.
    with _lock:
        import docker.errors

        try:
            api.inspect_image(tag)
        except docker.errors.ImageNotFound:
            repository, _, version = tag.partition(":")
            api.import_image_from_data(data, repository=repository, tag=version)
            api.inspect_image(tag)  # raises if the import did not take
            _remove_stale_tags(api, tag)
    return tag


def _remove_stale_tags(api, keep: str) -> None:
    import docker.errors

    for image in api.images(name=LOCAL_REPOSITORY):
        for tag in image.get("RepoTags") or ():
            if tag != keep:
                try:
                    api.remove_image(tag)
                except docker.errors.APIError:
                    pass  # still used by a container of another session: left for later
