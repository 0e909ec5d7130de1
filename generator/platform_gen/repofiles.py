"""The files platform-gen owns outside its output tree: the CODEOWNERS file and the editor schemas, only they.

GitHub reads CODEOWNERS only from ``.github/``, the repository's root or
``docs/``, never from the output tree, so the platform declares the file in
platform.yaml (``codeowners.path``) and platform-gen owns exactly that one path.
The editor schemas (README "Editor support") live in the repo's ``schemas/``
folder, where config.yaml files point at them; platform-gen owns exactly its three
files there (``config``, ``platform`` and ``environment.schema.json``), and only
when the folder exists: the repo opts in by having it (``platform-gen schema
--write`` creates it). Every other file of the folder is left alone.

A file is written only when it carries platform-gen's header (or does not exist
yet): a hand-written file is refused, never overwritten. Writes are atomic (a
temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError
from .load import SCHEMAS_DIR
from .outputs import editor
from .outputs.codeowners import HEADER
from .schemas import CODEOWNERS_PATHS
from .write import write_atomically

__all__ = ["RepoPlan", "apply_repo_files", "plan_repo_files"]

_SCHEMA_FILES = frozenset(editor.FILES.values())


@dataclass(frozen=True)
class RepoPlan:
    """What writing the repo files would do: (path, created | changed | unchanged), sorted."""

    entries: tuple[tuple[str, str], ...] = ()

    @property
    def dirty(self) -> tuple[str, ...]:
        """The paths to create or change."""
        return tuple(path for path, status in self.entries if status != "unchanged")


def _path(root: Path, rel: str) -> Path:
    # only the declared CODEOWNERS locations and the editor schemas; validate already enforces it, this keeps
    # the writer honest
    if rel not in CODEOWNERS_PATHS and rel not in _SCHEMA_FILES:
        raise OutputError(f"refusing to write {rel}: platform-gen writes only its output tree, CODEOWNERS and "
                          "the editor schemas")
    path = root / rel
    for part in (path, *path.parents):
        if part == root:
            break
        if part.is_symlink():
            raise OutputError(f"refusing to write {rel} through a link ({part.relative_to(root).as_posix()})",
                              "replace the link with a regular file or folder")
    return path


def _refusal(rel: str) -> OutputError:
    if rel in _SCHEMA_FILES:
        return OutputError(f"{rel} was not written by platform-gen; refusing to overwrite it",
                           f"platform-gen keeps the editor schemas in {SCHEMAS_DIR}/: "
                           f"move {rel} elsewhere (or delete it) and run platform-gen render")
    return OutputError(f"{rel} was not written by platform-gen; refusing to overwrite it",
                       f"move its rules into platform.yaml (teams' codeowners), delete {rel}, "
                       "and run platform-gen render")


def plan_repo_files(root: Path, files: dict[str, bytes]) -> RepoPlan:
    """Compare ``files`` (paths relative to ``root``) with disk; refuse files that are not ours."""
    entries = []
    for rel, data in sorted(files.items()):
        path = _path(root, rel)
        if not path.exists():
            entries.append((rel, "created"))
            continue
        if not path.is_file():
            raise OutputError(f"{rel} exists and is not a file")
        current = path.read_bytes()
        header = editor.HEADER if rel in _SCHEMA_FILES else HEADER
        if not current.startswith(header.encode()):
            raise _refusal(rel)
        entries.append((rel, "unchanged" if current == data else "changed"))
    return RepoPlan(tuple(entries))


def apply_repo_files(root: Path, files: dict[str, bytes], plan: RepoPlan) -> None:
    """Write the created and changed files of ``plan`` atomically."""
    for rel in plan.dirty:
        path = _path(root, rel)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, files[rel])
        except OSError as exc:  # an I/O error is the environment's, not a bug: exit 1 naming the file
            raise OutputError(f"cannot write {rel}: {exc.strerror or exc}") from None
