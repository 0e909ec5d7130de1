"""Stage 1: read the platform repo from disk. The only stage that reads input files.

Everything is read into memory (templates and environment components included) so
that later stages are pure functions of a :class:`Sources` value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import Problem
from .yamlio import Located, load_located

__all__ = ["PLATFORM_FILE", "Sources", "load"]

PLATFORM_FILE = "platform-config/platform.yaml"
SERVICES_DIR = "platform-config/services"
TEMPLATES_DIR = "platform-config/templates"
CROSSPLANE_DIR = "platform-config/crossplane"
ENVIRONMENTS_DIR = "environments"
OVERLAYS_DIR = "overlays"
TEMPLATE_SUFFIXES = (".yaml.j2", ".jsonnet", ".libsonnet", ".j2")


@dataclass(frozen=True)
class Sources:
    """The raw, parsed inputs of one platform repo (paths are relative to the root)."""

    platform: Located | None
    environments: tuple[Located, ...]
    services: tuple[tuple[str, Located], ...]
    templates: dict[str, dict[str, str]]
    components: dict[str, dict[str, bytes]]
    crossplane: tuple[Located, ...] = ()
    problems: tuple[Problem, ...] = field(default=())


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _read_yaml(path: Path, root: Path, problems: list[Problem]) -> Located | None:
    rel = _rel(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(rel, 0, 0, "", "not valid UTF-8 text"))
        return None
    except OSError as exc:
        problems.append(Problem(rel, 0, 0, "", f"cannot read: {exc.strerror}"))
        return None
    doc, found = load_located(text, rel)
    problems.extend(found)
    return doc


def _files(folder: Path) -> list[Path]:
    """Regular files below ``folder``, sorted, not following links out of it."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _read_yaml_multi(path: Path, root: Path, problems: list[Problem]) -> list[Located]:
    from .yamlio import load_located_all

    rel = _rel(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(rel, 0, 0, "", f"cannot read: {exc}"))
        return []
    docs, found = load_located_all(text, rel)
    problems.extend(found)
    return docs


def load(root: Path) -> Sources:
    """Read every input of the platform repo at ``root``; problems are collected, not raised."""
    problems: list[Problem] = []
    platform_path = root / PLATFORM_FILE
    platform = None
    if platform_path.is_file():
        platform = _read_yaml(platform_path, root, problems)
    else:
        problems.append(
            Problem(PLATFORM_FILE, 0, 0, "", "file not found",
                    "run platform-gen from the platform repo's root or pass --root")
        )

    environments: list[Located] = []
    env_dir = root / ENVIRONMENTS_DIR
    for path in sorted(env_dir.glob("*.yaml")) + sorted(env_dir.glob("*.yml")):
        doc = _read_yaml(path, root, problems)
        if doc is not None:
            environments.append(doc)
    if not environments and not problems:
        problems.append(Problem(ENVIRONMENTS_DIR, 0, 0, "", "no environment files found",
                                "add environments/<env>.yaml"))

    services: list[tuple[str, Located]] = []
    svc_dir = root / SERVICES_DIR
    if svc_dir.is_dir():
        for folder in sorted(p for p in svc_dir.iterdir() if p.is_dir()):
            cfg = folder / "config.yaml"
            if not cfg.is_file():
                problems.append(Problem(_rel(folder, root), 0, 0, "", "service folder without config.yaml",
                                        "add config.yaml or remove the folder"))
                continue
            doc = _read_yaml(cfg, root, problems)
            if doc is not None:
                services.append((folder.name, doc))

    templates: dict[str, dict[str, str]] = {}
    tpl_dir = root / TEMPLATES_DIR
    if tpl_dir.is_dir():
        for folder in sorted(p for p in tpl_dir.iterdir() if p.is_dir()):
            files: dict[str, str] = {}
            for path in _files(folder):
                if path.name.endswith(TEMPLATE_SUFFIXES):
                    try:
                        files[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
                    except (OSError, UnicodeDecodeError) as exc:
                        problems.append(Problem(_rel(path, root), 0, 0, "", f"cannot read: {exc}"))
            templates[folder.name] = files

    components: dict[str, dict[str, bytes]] = {}
    ov_dir = root / OVERLAYS_DIR
    if ov_dir.is_dir():
        for folder in sorted(p for p in ov_dir.iterdir() if p.is_dir()):
            components[folder.name] = {
                p.relative_to(folder).as_posix(): p.read_bytes() for p in _files(folder)
            }

    crossplane: list[Located] = []
    xp_dir = root / CROSSPLANE_DIR
    if xp_dir.is_dir():
        for path in _files(xp_dir):
            if path.suffix in (".yaml", ".yml"):
                crossplane.extend(_read_yaml_multi(path, root, problems))

    return Sources(
        platform=platform,
        environments=tuple(environments),
        services=tuple(services),
        templates=templates,
        components=components,
        crossplane=tuple(crossplane),
        problems=tuple(problems),
    )
