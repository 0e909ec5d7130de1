"""Safety on merge: refuse to remove prod applications, or many applications at once.

An environment file renamed or a cluster deleted by mistake would otherwise make
Argo CD delete live applications on the next sync. Removing a service that runs
only outside prod needs no permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from . import yamlio
from .model import Platform, Target

__all__ = ["Removal", "check_removals", "deployed_apps"]

#: More than this share of all applications removed at once needs --allow-delete.
MAX_SHARE = 0.25


@dataclass(frozen=True, order=True)
class Removal:
    """An application the new tree no longer has."""

    env: str
    app: str


def deployed_apps(out: Path) -> dict[str, str]:
    """Application name -> environment, from the ApplicationSets of the tree on disk."""
    apps: dict[str, str] = {}
    folder = out / "argocd" / "applicationsets"
    if not folder.is_dir():
        return apps
    for path in sorted(folder.glob("*.yaml")):
        try:
            docs = yamlio.safe_load_all(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):  # a hand-broken file: nothing to protect in it
            continue
        for doc in docs:
            spec = doc.get("spec") if isinstance(doc, dict) else None
            generators = spec.get("generators") if isinstance(spec, dict) else None
            for gen in generators if isinstance(generators, list) else []:
                listed = gen.get("list") if isinstance(gen, dict) else None
                elements = listed.get("elements") if isinstance(listed, dict) else None
                for element in elements if isinstance(elements, list) else []:
                    if isinstance(element, dict) and "app" in element:
                        apps[str(element["app"])] = str(element.get("env", ""))
    return apps


def prod_environments(platform: Platform) -> set[str]:
    """The environment named prod, and those of the highest promotion order."""
    top = max((e.order for e in platform.environments), default=0)
    return {"prod"} | {e.name for e in platform.environments if e.order == top}


def check_removals(before: dict[str, str], targets: tuple[Target, ...], platform: Platform
                   ) -> tuple[list[Removal], str]:
    """The applications removed, and why removing them needs --allow-delete ("" if it does not)."""
    now = {t.app_name for t in targets}
    removed = sorted(Removal(env, app) for app, env in before.items() if app not in now)
    if not removed:
        return [], ""
    prod = prod_environments(platform)
    in_prod = [r for r in removed if r.env in prod]
    if in_prod:
        return removed, f"{len(in_prod)} prod application(s) would be removed"
    if len(removed) > MAX_SHARE * len(before):
        return removed, (f"{len(removed)} of {len(before)} applications would be removed "
                         f"(more than {MAX_SHARE:.0%} at once)")
    return removed, ""
