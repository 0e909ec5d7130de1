"""What the starter platform (``generator/platform_gen/data/starter``) copies from this repo.

``platform-gen init`` writes the starter; three parts of it follow this repo, so that a fix
here reaches every new platform:

- the golden paths, ``platform-config/templates/*``: every folder, byte for byte;
- the Crossplane APIs, ``platform-config/crossplane/``: byte for byte (``init`` puts the
  organization in place of the example's ``acme``);
- the GitHub workflows, ``.github/workflows/*.yaml``: this repo's, with the edits of
  :data:`WORKFLOW_EDITS` (platform-gen installed from the package index at a pinned version,
  ``@@VERSION@@``, instead of from this repo).

``python -m pytest tests/test_init.py --update-starter`` copies them again; review the diff.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STARTER = REPO / "generator" / "platform_gen" / "data" / "starter"
COPIED = ("platform-config/templates", "platform-config/crossplane")
WORKFLOWS = ".github/workflows"

#: (this repo's text, the starter's text): each must apply at least once over the workflows, so a
#: change of this repo's workflows that an edit no longer matches fails the sync test.
WORKFLOW_EDITS: tuple[tuple[str, str], ...] = (
    # a platform repo holds no platform-gen source: the pinned version is platform-gen itself
    ("      - generator/**\n      - pyproject.toml\n", ""),
    ("cache-dependency-path: pyproject.toml", "cache-dependency-path: .github/workflows/*.yaml"),
    ("      # kubectl (with kustomize built in) is preinstalled on ubuntu-latest;\n"
     "      # the dev extra also brings a bundled one, so the run is the same locally.\n",
     "      # kubectl (with kustomize built in) is preinstalled on ubuntu-latest.\n"),
    ("run: pip install '.[dev]'\n", "run: pip install 'platform-gen==@@VERSION@@'\n"),
    ("run: pip install .\n", "run: pip install 'platform-gen==@@VERSION@@'\n"),
    ("A new platform-gen (pyproject.toml) starts over.", "A new platform-gen version starts over."),
    ("${{ hashFiles('pyproject.toml') }}", "@@VERSION@@"),
    ("-- platform-config environments overlays generator pyproject.toml)",
     "-- platform-config environments overlays .github/workflows)"),
    ("overlays/, platform-gen itself: each", "overlays/, platform-gen's version (.github/workflows): each"),
    # this repo's issue numbers mean nothing in a platform repo
    ("the plan job decides (issue 9).", "the plan job decides."),
    ("more than one shard\n# (issue 9); it can", "more than one shard;\n# it can"),
)

#: The first lines of every workflow of the starter.
WORKFLOW_HEADER = ("# Written by `platform-gen init` @@VERSION@@: it installs that version of\n"
                   "# platform-gen from the package index. To upgrade, change the version in\n"
                   "# every workflow and in .pre-commit-config.yaml together.\n")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def workflows() -> tuple[dict[str, bytes], list[str]]:
    """The starter's workflows as this repo's make them, and the edits that matched nothing."""
    found: dict[str, bytes] = {}
    used = dict.fromkeys(WORKFLOW_EDITS, 0)
    for path in sorted((REPO / WORKFLOWS).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for old, new in WORKFLOW_EDITS:
            used[(old, new)] += text.count(old)
            text = text.replace(old, new)
        found[f"{WORKFLOWS}/{path.name}"] = (WORKFLOW_HEADER + text).encode("utf-8")
    return found, [old for (old, _new), n in used.items() if n == 0]


def expected() -> dict[str, bytes]:
    """Every file of the starter that follows this repo: its path in the starter -> its bytes."""
    found: dict[str, bytes] = {}
    for part in COPIED:
        found.update({f"{part}/{rel}": data for rel, data in _files(REPO / part).items()})
    found.update(workflows()[0])
    return found


def actual() -> dict[str, bytes]:
    """The starter's files of the same parts."""
    found: dict[str, bytes] = {}
    for part in (*COPIED, WORKFLOWS):
        found.update({f"{part}/{rel}": data for rel, data in _files(STARTER / part).items()})
    return found


def update() -> None:
    """Copy the parts again (the starter's files of those parts that this repo no longer has go)."""
    want = expected()
    for rel in actual():
        if rel not in want:
            (STARTER / rel).unlink()
    for rel, data in want.items():
        target = STARTER / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for part in (*COPIED, WORKFLOWS):
        for folder in sorted((STARTER / part).rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
