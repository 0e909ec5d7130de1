"""``platform-gen init`` and ``platform-gen new``: a new platform repo, a new service (issue 11).

Pure where it can be: the starter platform's files and a new service's config.yaml are built
in memory (relative path -> bytes); :func:`create` writes them and refuses to overwrite
anything. The starter is package data (``data/starter/``): its golden paths and Crossplane APIs
are copies of the example platform's, its workflows install platform-gen from the package index
at the running version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from . import schemas, yamlio
from .deep import deep_merge
from .errors import OutputError

__all__ = ["MODELINE", "NewService", "SetError", "create", "default_repo_url", "not_empty",
           "organization_problem", "parse_set", "remove", "repo_url_problem", "service_file", "shipped_templates",
           "split_image", "starter_files", "undo_init"]

#: The folder of the package data that ``init`` copies.
STARTER_DATA = "starter"
#: Folders of the starter copied as they are (the golden paths keep their bytes).
VERBATIM = ("platform-config/templates/",)
#: Folders of the starter whose example organization, ``acme``, becomes the new platform's.
ORG_NAMED = ("platform-config/crossplane/",)
EXAMPLE_ORG = re.compile(r"\bacme\b")
#: Placeholders of the starter's other text files.
PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
#: The first line of a config.yaml that ``new`` writes: editors that speak yaml-language-server
#: check and complete the file against the schema at the repo's root.
MODELINE = "# yaml-language-server: $schema=../../../schemas/config.schema.json\n"
#: Keys that ``new`` sets itself: a starter may not.
#: The order of the first keys of a new config.yaml (the rest follow as given; environments last).
HEAD_KEYS = ("name", "team", "description", "tier", "template", "image", "tag")

_ORGANIZATION = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_ONE_WORD = re.compile(r"\S+\Z")


def organization_problem(value: str) -> str | None:
    """Why ``value`` cannot be an organization (as platform.yaml's schema has it), or None."""
    if not _ORGANIZATION.match(value) or len(value) > 40:
        return (f"'{value}' is not an organization name: lower-case letters, digits and '-', starting and "
                "ending with a letter or digit, at most 40 characters")
    return None


def repo_url_problem(value: str) -> str | None:
    """Why ``value`` cannot be the gitops repo URL, or None."""
    if not _ONE_WORD.match(value) or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{json.dumps(value)} is not a repository URL: one word, without spaces or control characters"
    return None


def default_repo_url(organization: str, folder: Path, origin: str | None) -> str:
    """The repo Argo CD pulls from: the folder's git remote ``origin``, else github.com/ORG/FOLDER."""
    if origin:
        return origin
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-") or "platform"
    return f"https://github.com/{organization}/{name}.git"


def not_empty(folder: Path) -> list[str]:
    """The entries of ``folder`` that keep ``init`` out of it, sorted: everything but ``.git``."""
    if not folder.exists():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.name != ".git")


def _walk(node: Traversable, rel: str, out: dict[str, bytes]) -> None:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            _walk(child, f"{rel}{child.name}/", out)
        else:
            out[f"{rel}{child.name}"] = child.read_bytes()


def _yaml_scalar(value: Any) -> str:
    """``value`` as a YAML scalar in the project's style (quoted where a reader could take it for another type)."""
    return yamlio.dump({"v": value})[len("v: "):-1]


def shipped_templates() -> frozenset[str]:
    """The golden paths ``init`` ships (the starter's template folders): a platform's template of that name is
    on a shipped path, any other is the platform's own (README "Scorecards")."""
    folder = resources.files("platform_gen") / "data" / STARTER_DATA / VERBATIM[0].rstrip("/")
    return frozenset(child.name for child in folder.iterdir() if child.is_dir() and child.name != "__pycache__")


def starter_files(organization: str, repo_url: str, version: str) -> dict[str, bytes]:
    """Every file of a new platform repo (relative path -> bytes), from the starter package data.

    The golden paths are copied as they are; the Crossplane APIs get ``organization`` for the
    example's ``acme``; the other files get their ``@@...@@`` placeholders filled.
    """
    raw: dict[str, bytes] = {}
    _walk(resources.files("platform_gen") / "data" / STARTER_DATA, "", raw)
    values = {
        "ORGANIZATION": organization,
        "ORGANIZATION_YAML": _yaml_scalar(organization),
        "REPO_URL": repo_url,
        "REPO_URL_YAML": _yaml_scalar(repo_url),
        "VERSION": version,
    }
    files: dict[str, bytes] = {}
    for rel, data in raw.items():
        if rel.startswith(VERBATIM):
            files[rel] = data
        elif rel.startswith(ORG_NAMED):
            files[rel] = EXAMPLE_ORG.sub(organization, data.decode("utf-8")).encode("utf-8")
        else:
            files[rel] = PLACEHOLDER.sub(lambda m: values[m.group(1)], data.decode("utf-8")).encode("utf-8")
    return files


def create(root: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` below ``root``, each a new file (an existing one is never overwritten).

    All or nothing: on failure, the files and folders written are removed again, and OutputError
    names the file that could not be written.
    """
    made: list[Path] = []
    try:
        for rel, data in sorted(files.items()):
            parts = rel.split("/")
            if rel.startswith("/") or any(part in ("", ".", "..") for part in parts):
                raise OutputError(f"{rel}: not a plain relative path", "this is a bug in platform-gen")
            path = root.joinpath(*parts)
            for folder in reversed([path.parent, *path.parent.parents]):
                if not folder.exists():
                    folder.mkdir()
                    made.append(folder)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            made.append(path)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
    except FileExistsError as exc:
        remove(made)
        raise OutputError(f"{exc.filename} already exists; nothing was written",
                          "nothing is overwritten: remove it, or pick another name") from None
    except OSError as exc:
        remove(made)
        raise OutputError(f"cannot write {exc.filename or root}: {exc.strerror or exc}; nothing was written") from None
    except BaseException:
        remove(made)
        raise


def undo_init(folder: Path, existed: bool) -> None:
    """Take back a failed ``init``: remove ``folder`` if it did not exist, else all in it but ``.git``
    (``init`` starts only in a folder that holds nothing else)."""
    if not existed:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for entry in not_empty(folder):
        path = folder / entry
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove(made: Sequence[Path]) -> None:
    """Undo :func:`create`: remove ``made`` (files and the folders it created), last first."""
    for path in reversed(made):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue


# --- new -------------------------------------------------------------------------------------


class SetError(ValueError):
    """A ``--set`` that cannot be applied (its text, what is wrong)."""


@dataclass(frozen=True)
class NewService:
    """What ``platform-gen new`` was given (prompted answers included)."""

    name: str
    team: str
    template: str
    image: str | None = None
    tag: str | None = None
    envs: tuple[str, ...] = ()
    sets: tuple[tuple[tuple[str, ...], Any], ...] = ()
    description: str | None = None


def split_image(text: str) -> tuple[str, str | None]:
    """``registry/name:tag`` -> (``registry/name``, ``tag``); no tag -> (text, None). A port is no tag."""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        return text[:colon], text[colon + 1:]
    return text, None


def _schema_at(path: Sequence[str]) -> dict[str, Any] | None:
    """The part of the config.yaml schema at ``path``; None where the schema has no such key."""
    node: Any = schemas.SERVICE
    for part in path:
        props = node.get("properties") or {}
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node if isinstance(node, dict) else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string" if isinstance(value, str) else "other"


def _as_written(raw: str, value: Any) -> bool:
    """Whether YAML's reading of ``raw`` prints back as ``raw`` (``1.50``, ``0x1F``, ``yes`` do not)."""
    if isinstance(value, bool):
        return raw in ("true", "false")
    if isinstance(value, int):
        return re.fullmatch(r"-?(0|[1-9][0-9]*)", raw) is not None
    if isinstance(value, float):
        return _yaml_scalar(value) == raw
    return raw in ("null", "~", "")


def parse_set(text: str) -> tuple[tuple[str, ...], Any]:
    """``key.path=value`` -> (key path, value). The value is read as a YAML scalar; where the key takes
    a string and YAML reads something else, or reads a number other than as written, the text is kept
    as it is (``tag=1.10`` is the string ``"1.10"``). Raise SetError."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise SetError(f"--set {text!r}: expected KEY=VALUE, such as replicas=3 or resources.requests.cpu=200m")
    path = tuple(key.split("."))
    if any(not part for part in path):
        raise SetError(f"--set {text!r}: the key {key!r} has an empty part; write a dotted path such as "
                       "resources.requests.cpu")
    if any((ord(c) < 32 and c != "\t") or 127 <= ord(c) < 160 for c in raw):
        raise SetError(f"--set {key}: the value holds a line break or control character; --set takes one line "
                       "(edit the file for more)")
    raw = raw.strip()
    try:
        value = yamlio.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = [raw]
    if isinstance(value, (dict, list)):
        raise SetError(f"--set {key}={raw}: expected one value (a YAML scalar), not a list or mapping; "
                       "quote it if it is text, or edit the file for a list")
    if isinstance(value, str):
        return path, value
    schema = _schema_at(path)
    types = schema.get("type") if schema is not None else None
    accepted = {types} if isinstance(types, str) else set(types or ())
    kind = _json_type(value)
    fits = kind in accepted or (kind == "integer" and "number" in accepted)
    written = kind != "other" and _as_written(raw, value)
    if "string" in accepted and (not fits or not written):
        return path, raw
    if not written:
        shown = "a date" if kind == "other" else _yaml_scalar(value)
        hint = "quote it" if kind == "other" else f"write {shown}, or quote it"
        raise SetError(f"--set {key}={raw}: YAML reads {raw} as {shown}; {hint} if you mean the text")
    return path, value


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any, shown: str) -> None:
    node = doc
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise SetError(f"--set {shown}: {'.'.join(path[:i + 1])} is not a mapping (it is {child!r})")
        node = child
    node[path[-1]] = value


def service_document(new: NewService, starter: Mapping[str, Any] | None) -> dict[str, Any]:
    """The new service's config.yaml as data: the starter's values, under the command line's.

    Raise SetError when a ``--set`` goes through a value that is not a mapping."""
    doc: dict[str, Any] = deep_merge({}, dict(starter or {}))
    given: dict[str, Any] = {"name": new.name, "team": new.team, "template": new.template}
    if new.image is not None:
        given["image"] = new.image
    if new.tag is not None:
        given["tag"] = new.tag
    if new.description:
        given["description"] = new.description
    doc = deep_merge(doc, given)
    if new.envs:
        envs = doc.get("environments")
        envs = dict(envs) if isinstance(envs, dict) else {}
        for env in new.envs:
            envs.setdefault(env, {})
        doc["environments"] = envs
    for path, value in new.sets:
        _put(doc, path, value, f"{'.'.join(path)}")
    head = {k: doc[k] for k in HEAD_KEYS if k in doc}
    rest = {k: v for k, v in doc.items() if k not in head and k != "environments"}
    tail = {"environments": doc["environments"]} if "environments" in doc else {}
    return {**head, **rest, **tail}


def service_file(doc: Mapping[str, Any]) -> str:
    """The text of a new config.yaml: the editor modeline, a comment, the document."""
    return (MODELINE
            + f"# Service {doc.get('name')} on the golden path {doc.get('template')}, written by "
              "`platform-gen new`.\n"
            + "# Every key is described in the README of platform-gen (\"config.yaml\").\n"
            + yamlio.dump(dict(doc)))


