"""Sandbox images, built from Debian packages (no registry is ever contacted).

Each image has a recipe folder under ``image_recipes/``, shipped inside this package.
An image is tagged ``<name>:<recipe hash>`` and ``<name>:latest``; it is rebuilt only
when no image carries the tag of the current recipe's hash.

- ``airlock/minimal``: Debian's busybox-static in a root filesystem assembled here.
- ``airlock/dev``: a bookworm base made by mmdebstrap from the machine's own apt
  sources and ``docker import``ed, finished by ``image_recipes/dev/Dockerfile``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, ImageNotFound
from pydantic import BaseModel

DEBIAN_SUITE = "bookworm"
RECIPE_LABEL = "airlock.recipe"
HASH_LABEL = "airlock.recipe-hash"
AGENT_UID = 1000

Log = Callable[[str], None]


class ImageBuildError(RuntimeError):
    """An image could not be built; the message says what is missing."""


class ImageState(StrEnum):
    CURRENT = "current"
    OUTDATED = "outdated"  # an image exists, but not for the current recipe
    MISSING = "missing"


class ImageStatus(BaseModel):
    name: str
    recipe_hash: str
    state: ImageState
    image_id: str | None = None
    size_bytes: int | None = None

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.recipe_hash}"


def images_dir() -> Path:
    """The folder of recipes: ``$AIRLOCK_IMAGES_DIR``, or ``image_recipes/`` of this package.

    Found through the package (a wheel is installed unzipped), never the source checkout.
    """
    override = os.environ.get("AIRLOCK_IMAGES_DIR")
    if override:
        return Path(override)
    shipped = Path(str(resources.files("sandbox") / "image_recipes"))
    if not shipped.is_dir():
        raise ImageBuildError(f"the image recipes are missing at {shipped}: reinstall airlock")
    return shipped


def hash_files(paths: list[Path], root: Path, salt: str = "") -> str:
    """A short, stable hash of files' relative names and contents."""
    digest = hashlib.sha256(salt.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def recipe_files(directory: Path) -> list[Path]:
    """The files of a recipe folder, less Python's bytecode caches.

    pip compiles every ``.py`` it installs (``dev/git_guard.py`` too), so an installed
    recipe folder holds ``__pycache__/``; counted, it would make every image look outdated.
    """
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and "__pycache__" not in path.relative_to(directory).parts
    ]


def hash_dir(directory: Path, salt: str = "") -> str:
    if not directory.is_dir():
        raise ImageBuildError(f"recipe folder {directory} does not exist")
    return hash_files(recipe_files(directory), directory, salt)


@dataclass(frozen=True)
class Recipe:
    """An image name, its recipe folder and the function that builds it."""

    name: str
    folder: str
    builder: Callable[[docker.DockerClient, Recipe, str, Log], None]
    settings: tuple[str, ...] = ()  # image settings given in code, part of the hash

    @property
    def directory(self) -> Path:
        return images_dir() / self.folder

    def recipe_hash(self) -> str:
        return hash_dir(self.directory, salt="\n".join((DEBIAN_SUITE, *self.settings)))


def _require_tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ImageBuildError(
            f"`{name}` is not installed: install Debian's {package} package "
            "(`make setup` does it as root on Debian)"
        )
    return found


def _labels(recipe: Recipe, recipe_hash: str) -> dict[str, str]:
    return {RECIPE_LABEL: recipe.name, HASH_LABEL: recipe_hash}


def _import_tar(
    client: docker.DockerClient,
    tar_path: Path,
    repository: str,
    tag: str,
    labels: dict[str, str],
    config: tuple[str, ...] = (),
) -> None:
    """``docker import`` a root filesystem tar with labels and Dockerfile-style settings."""
    changes = [f"LABEL {key}={value}" for key, value in labels.items()] + list(config)
    client.api.import_image_from_file(
        str(tar_path), repository=repository, tag=tag, changes=changes
    )
    client.api.tag(f"{repository}:{tag}", repository, "latest")


# --- airlock/minimal --------------------------------------------------------------


def _download_deb(package: str, into: Path) -> Path:
    _require_tool("apt-get", "apt")
    result = subprocess.run(
        ["apt-get", "download", "-q", package], cwd=into, capture_output=True, text=True
    )
    debs = list(into.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not debs:
        raise ImageBuildError(f"apt-get download {package} failed: {result.stderr.strip()}")
    return debs[0]


def _tar_add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
    tar.addfile(info)


def _tar_add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _busybox_rootfs(busybox: Path, recipe_dir: Path, out: Path) -> None:
    """Write a root filesystem tar: busybox, its applet links, users, /tmp, /workspace."""
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    with tarfile.open(out, "w") as tar:
        for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home"):
            _tar_add_dir(tar, directory)
        for directory in ("proc", "sys", "dev"):
            _tar_add_dir(tar, directory)
        _tar_add_dir(tar, "tmp", mode=0o1777)
        _tar_add_dir(tar, "home/agent", uid=AGENT_UID)
        # root-owned and sticky, like /tmp: runc gives the session's tmpfs this mode
        _tar_add_dir(tar, "workspace", mode=0o1777)
        _tar_add_bytes(tar, "bin/busybox", busybox.read_bytes(), mode=0o755)
        for applet in applets:
            if applet == "bin/busybox":
                continue
            link = tarfile.TarInfo(applet)
            link.type, link.linkname, link.mode = tarfile.SYMTYPE, "/bin/busybox", 0o777
            tar.addfile(link)
        for name in ("passwd", "group"):
            _tar_add_bytes(tar, f"etc/{name}", (recipe_dir / name).read_bytes())


MINIMAL_CONFIG = (
    "LABEL airlock.workspace-mode=1777",  # part of the recipe hash: rebuilt when it changed
    f"USER {AGENT_UID}:{AGENT_UID}",
    "WORKDIR /workspace",
    "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/bin/sh"]',
)


def build_minimal(client: docker.DockerClient, recipe: Recipe, recipe_hash: str, log: Log) -> None:
    _require_tool("dpkg-deb", "dpkg")
    with tempfile.TemporaryDirectory(prefix="airlock-minimal-") as tmp:
        work = Path(tmp)
        log("downloading busybox-static (apt, the machine's own sources)")
        deb = _download_deb("busybox-static", work)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "pkg")], check=True)
        rootfs = work / "rootfs.tar"
        _busybox_rootfs(work / "pkg" / "bin" / "busybox", recipe.directory, rootfs)
        log(f"importing {recipe.name}:{recipe_hash}")
        _import_tar(
            client, rootfs, recipe.name, recipe_hash, _labels(recipe, recipe_hash), recipe.settings
        )


# --- airlock/dev ---------------------------------------------------------------------


def read_package_list(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _build_debian_base(
    client: docker.DockerClient, name: str, packages_file: Path, log: Log
) -> str:
    """Make ``name:<hash>`` with mmdebstrap unless it exists; return that reference."""
    base_hash = hash_files([packages_file], packages_file.parent, salt=DEBIAN_SUITE)
    reference = f"{name}:{base_hash}"
    try:
        client.images.get(reference)
        return reference
    except ImageNotFound:
        pass
    mmdebstrap = _require_tool("mmdebstrap", "mmdebstrap")
    packages = ",".join(read_package_list(packages_file))
    with tempfile.TemporaryDirectory(prefix="airlock-base-") as tmp:
        tar_path = Path(tmp) / "rootfs.tar"
        log(f"mmdebstrap {DEBIAN_SUITE} with {packages} (about 20 s)")
        result = subprocess.run(
            [
                mmdebstrap,
                "--quiet",
                "--variant=apt",
                "--format=tar",
                f"--include={packages}",
                DEBIAN_SUITE,
                str(tar_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0:
            raise ImageBuildError(f"mmdebstrap failed:\n{result.stderr[-4000:]}")
        log(f"importing {reference}")
        _import_tar(client, tar_path, name, base_hash, {"airlock.base-of": "airlock/dev"})
    return reference


def build_dev(client: docker.DockerClient, recipe: Recipe, recipe_hash: str, log: Log) -> None:
    base = _build_debian_base(client, "airlock/dev-base", recipe.directory / "packages.txt", log)
    log(f"building {recipe.name}:{recipe_hash} from {base}")
    output: list[str] = []
    stream: Any = client.api.build(
        path=str(recipe.directory),
        tag=f"{recipe.name}:{recipe_hash}",
        buildargs={"BASE": base},
        labels=_labels(recipe, recipe_hash),
        rm=True,
        forcerm=True,
        network_mode="none",
        decode=True,
    )
    for event in stream:
        if "error" in event:
            raise ImageBuildError(
                f"building {recipe.name} failed: {event['error']}\n" + "".join(output[-20:])
            )
        output.append(event.get("stream", ""))
    client.api.tag(f"{recipe.name}:{recipe_hash}", recipe.name, "latest")


RECIPES: tuple[Recipe, ...] = (
    Recipe("airlock/minimal", "minimal", build_minimal, settings=MINIMAL_CONFIG),
    Recipe("airlock/dev", "dev", build_dev),
)


def recipe_named(name: str) -> Recipe:
    for recipe in RECIPES:
        if recipe.name == name or recipe.folder == name:
            return recipe
    known = ", ".join(r.name for r in RECIPES)
    raise ImageBuildError(f"no image recipe named {name!r}; known: {known}")


def status(client: docker.DockerClient, recipe: Recipe) -> ImageStatus:
    """Whether the image of the current recipe exists (or only an older one does)."""
    recipe_hash = recipe.recipe_hash()
    for reference, state in (
        (f"{recipe.name}:{recipe_hash}", ImageState.CURRENT),
        (f"{recipe.name}:latest", ImageState.OUTDATED),
    ):
        try:
            image = client.images.get(reference)
        except ImageNotFound:
            continue
        return ImageStatus(
            name=recipe.name,
            recipe_hash=recipe_hash,
            state=state,
            image_id=image.id,
            size_bytes=image.attrs.get("Size"),
        )
    return ImageStatus(name=recipe.name, recipe_hash=recipe_hash, state=ImageState.MISSING)


def prune_old_tags(client: docker.DockerClient, recipe: Recipe, keep_hash: str) -> list[str]:
    """Untag images of earlier recipes so rebuilds do not pile up; return what was removed.

    A tag that a container still uses stays (the engine answers 409): housekeeping must
    not fail a build that succeeded; a later build removes it.
    """
    keep = {f"{recipe.name}:{keep_hash}", f"{recipe.name}:latest"}
    removed = []
    for image in client.images.list(name=recipe.name):
        for tag in image.tags:
            if tag in keep:
                continue
            try:
                client.images.remove(tag)
            except APIError as exc:
                if exc.status_code != 409:
                    raise
                continue
            removed.append(tag)
    client.images.prune(filters={"dangling": True, "label": f"{RECIPE_LABEL}={recipe.name}"})
    return removed


def ensure(
    client: docker.DockerClient,
    recipes: tuple[Recipe, ...] = RECIPES,
    *,
    force: bool = False,
    log: Log = print,
) -> list[ImageStatus]:
    """Build every image whose current recipe has no image yet; return their statuses."""
    results = []
    for recipe in recipes:
        current = status(client, recipe)
        if force or current.state is not ImageState.CURRENT:
            recipe.builder(client, recipe, current.recipe_hash, log)
            current = status(client, recipe)
            if current.state is not ImageState.CURRENT:
                raise ImageBuildError(f"{current.tag} is still missing after its build")
            for tag in prune_old_tags(client, recipe, current.recipe_hash):
                log(f"removed outdated {tag}")
        results.append(current)
    return results
