"""Stage 5: bring the output folder in line with a rendered tree. The only writer.

Safety rules: the output folder must not hold the inputs; a non-empty folder is
written into only if it carries platform-gen's manifest; every path stays inside the
folder; files are replaced atomically one by one and only when their bytes change;
files the run did not produce are removed, and emptied folders with them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OutputError
from .render import MANIFEST

__all__ = ["Plan", "apply", "check_out_dir", "plan"]

_INPUT_DIRS = ("platform-config", "environments", "overlays", ".git")


@dataclass(frozen=True)
class Plan:
    """What writing a tree would do: relative paths, sorted."""

    created: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = field(default=(), repr=False)

    @property
    def dirty(self) -> bool:
        """Whether the folder differs from the tree."""
        return bool(self.created or self.changed or self.removed)


def check_out_dir(root: Path, out: Path, shown: str | None = None) -> None:
    """Refuse output folders that would overwrite inputs or are not ours (``shown`` names it)."""
    name_ = shown or str(out)
    root_r, out_r = root.resolve(), out.resolve()
    if out_r == root_r or out_r in root_r.parents:
        raise OutputError(f"output folder {name_} contains the platform repo",
                          "pass --out a folder of its own, such as rendered")
    for name in _INPUT_DIRS:
        d = (root_r / name).resolve()
        if out_r == d or d in out_r.parents:
            raise OutputError(f"output folder {name_} is inside the inputs ({name}/)",
                              "pass --out a folder of its own, such as rendered")
    if out_r.exists() and not out_r.is_dir():
        raise OutputError(f"output path {name_} exists and is not a folder")
    if out_r.is_dir() and any(out_r.iterdir()) and not (out_r / MANIFEST).is_file():
        raise OutputError(f"output folder {name_} is not empty and was not created by platform-gen",
                          f"it has no {MANIFEST}; empty it or choose another --out")


def _existing(out: Path) -> dict[str, Path]:
    if not out.is_dir():
        return {}
    found = {}
    for dirpath, dirnames, filenames in os.walk(out):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            found[p.relative_to(out).as_posix()] = p
    return found


def plan(out: Path, files: dict[str, bytes]) -> Plan:
    """Compare ``files`` with the folder's content without writing anything."""
    existing = _existing(out)
    created, changed, unchanged = [], [], []
    for rel, data in sorted(files.items()):
        p = existing.get(rel)
        if p is None:
            created.append(rel)
        elif p.is_symlink() or p.read_bytes() != data:
            changed.append(rel)
        else:
            unchanged.append(rel)
    removed = sorted(set(existing) - set(files))
    return Plan(tuple(created), tuple(changed), tuple(removed), tuple(unchanged))


def _safe_path(out: Path, rel: str) -> Path:
    if rel.startswith("/") or ".." in rel.split("/"):
        raise OutputError(f"refusing to write outside the output folder: {rel}")
    path = out / rel
    parent = path.parent.resolve()
    if parent != out.resolve() and out.resolve() not in parent.parents:
        raise OutputError(f"refusing to write through a link out of the output folder: {rel}")
    return path


def apply(out: Path, files: dict[str, bytes], the_plan: Plan) -> None:
    """Carry out ``the_plan``: write created and changed files, remove the others."""
    out.mkdir(parents=True, exist_ok=True)
    for rel in (*the_plan.created, *the_plan.changed):
        for part in Path(rel).parents:
            if str(part) != "." and (out / part).is_symlink():
                raise OutputError(f"refusing to write through a link: {part}")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        path = _safe_path(out, rel)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(files[rel])
            os.chmod(tmp, 0o644)
            if path.is_symlink():
                path.unlink()
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    for rel in the_plan.removed:
        path = _safe_path(out, rel)
        path.unlink(missing_ok=True)
    # drop folders emptied by removals, deepest first, never the output folder itself
    for dirpath, _dirs, _files in sorted(os.walk(out), key=lambda x: -len(x[0])):
        d = Path(dirpath)
        if d != out and not any(d.iterdir()):
            d.rmdir()
