"""What each cluster runs that services may ask for, and the rules on asking.

The platform declares capabilities per environment (``capabilities:`` in ``environments/<env>.yaml``)
and per cluster (``clusters[].capabilities``, merged over the environment's; ``null`` takes one away).
A service asks with a few values of its config.yaml (``secrets``, ``expose``, ``slo``); a value that
needs a capability some of its clusters lack is a problem at the value, naming those clusters. What
the platform only offers (a ServiceMonitor where Prometheus runs, a dashboard where Grafana does) is
rendered where the capability is and left out elsewhere, without a word.

Secrets are referenced, never written: :func:`literal_secrets` finds a secret value written into an
input file and reports where, without echoing it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .deep import deep_merge
from .errors import Problem
from .model import Origin, Target
from .schemas import quantity
from .yamlio import Located

__all__ = ["ASKS", "Ask", "capabilities_of", "check_targets", "first_origin", "gateway_of", "guardrail_problems",
           "literal_secrets", "looks_like_secret", "origin_of", "secret_problems"]

EXTERNAL_SECRETS = "externalSecrets"
GATEWAYS = "gateways"
PROMETHEUS = "prometheus"
GRAFANA = "grafana"


def capabilities_of(env: Mapping[str, Any] | None, cluster: Mapping[str, Any] | None) -> dict[str, Any]:
    """A cluster's capabilities: its environment's with its own merged over them, those set to null removed."""
    return _drop_nulls(deep_merge(dict(env or {}), dict(cluster or {})))


def _drop_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_nulls(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def gateway_of(target: Target) -> tuple[str, dict[str, Any] | None]:
    """Which gateway a target's ``expose.http`` attaches to ('public' or 'internal'), and the cluster's."""
    http = (target.values.get("expose") or {}).get("http") or {}
    which = "public" if http.get("public") is True else "internal"
    found = (target.cluster.capabilities.get(GATEWAYS) or {}).get(which)
    return which, found if isinstance(found, dict) else None


@dataclass(frozen=True)
class Ask:
    """A value of a service that needs a capability of every cluster it runs on."""

    key: str  # the value's key in config.yaml
    what: str  # what it asks for, as people call it
    capability: str  # the key under capabilities: that provides it

    def asked(self, target: Target) -> bool:
        return bool(target.values.get(self.key))

    def lacking(self, target: Target) -> str | None:
        """What the target's cluster lacks of it (a capability path), or None."""
        if self.key == "expose":
            which, gateway = gateway_of(target)
            return None if gateway is not None else f"{GATEWAYS}.{which}"
        return None if target.cluster.capabilities.get(self.capability) else self.capability


ASKS = (
    Ask("secrets", "secrets from the platform's store (External Secrets)", EXTERNAL_SECRETS),
    Ask("expose", "a URL (a Gateway API gateway)", GATEWAYS),
    Ask("slo", "SLO alerts (Prometheus)", PROMETHEUS),
)


def first_origin(origins: Any) -> Origin | None:
    """The first (file, line) of a value's origin tree (None when it has none)."""
    if isinstance(origins, Origin):
        return origins
    if isinstance(origins, dict):
        found = [o for o in (first_origin(v) for v in origins.values()) if o is not None]
        return min(found) if found else None
    return None


def origin_of(target: Target, key: str) -> Origin:
    """Where a target's value ``key`` is set: its first leaf's origin, else (a value of empty mappings, such as
    ``expose: {http: {}}``) the key in the most specific layer that sets it."""
    found = first_origin(target.origins.get(key))
    if found is not None:
        return found
    for layer in reversed(target.layers):
        if key in layer.data:
            return Origin(layer.doc.file, layer.doc.pos((*layer.base, key)).line)
    return Origin(target.service.file, 1)


def check_targets(targets: Iterable[Target]) -> list[Problem]:
    """A problem for each value of a service that asks for a capability some of its clusters lack:
    at the value (where it is set for the first such cluster), naming every cluster that lacks it."""
    lacking: dict[tuple[str, str], list[tuple[Target, str]]] = {}
    for t in targets:
        for ask in ASKS:
            if ask.asked(t):
                missing = ask.lacking(t)
                if missing is not None:
                    lacking.setdefault((t.service.name, ask.key), []).append((t, missing))
    problems = []
    for (_service, key), found in sorted(lacking.items()):
        ask = next(a for a in ASKS if a.key == key)
        first = found[0][0]
        origin = origin_of(first, key)
        clusters = ", ".join(sorted(f"{t.cluster.name} ({t.env.name})" for t, _m in found))
        needs = sorted({m for _t, m in found})
        files = sorted({t.env.file for t, _m in found})
        problems.append(Problem(
            origin.file, origin.line, 0, key,
            f"{key} asks for {ask.what}, which cluster{'s' if len(found) > 1 else ''} {clusters} "
            f"lack{'' if len(found) > 1 else 's'}",
            f"the platform team declares capabilities.{' / '.join(needs)} in {', '.join(files)}; or keep the "
            "service off those clusters (onlyClusters) or set the value only for the environments that have it"))
    return problems


# --- secret values written into a file ------------------------------------------------

#: Key names whose value is a secret: a literal value there belongs in the platform's store.
_SECRET_KEY = re.compile(
    r"(^|[_.-])(pass(word|wd|phrase)?|pwd|secret|token|api[_.-]?key|private[_.-]?key|credentials?|"
    r"access[_.-]?key|secret[_.-]?key)$", re.IGNORECASE)
#: Values that are switches rather than secrets, whatever the key (ENABLE_TOKEN: "true").
_SWITCHES = frozenset({"true", "false", "yes", "no", "on", "off", "enabled", "disabled"})
#: Values that are secrets whatever their key: private keys and well-known token formats.
_SECRET_VALUES = (
    (re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a private key"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"), "a GitHub token"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key"),
    (re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}"), "a Stripe key"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "a JSON Web Token"),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), "an npm token"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)
_ANY_SECRET_VALUE = re.compile("|".join(f"(?:{p.pattern})" for p, _w in _SECRET_VALUES))
_HINT = ("secret values never go into config files: put it in the platform's secret store and reference it "
         "under secrets: (README \"Using a secret\")")


def _walk(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _walk(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _walk(v, (*path, i))


def _in_env(path: tuple[str | int, ...]) -> bool:
    """Whether ``path`` is a variable of an ``env`` mapping (of the values at any layer)."""
    # (a secret's env maps a variable to a property of the store: a name, not a value)
    return len(path) >= 2 and path[-2] == "env" and isinstance(path[-1], str) and "secrets" not in path[:-2]


def looks_like_secret(name: str, value: str) -> bool:
    """Whether a variable ``name`` set to the literal ``value`` holds a secret: by its name (not a switch such
    as "true") or by the value's look, as :func:`literal_secrets` judges the values of a file."""
    if not value:
        return False
    return bool((_SECRET_KEY.search(name) and value.lower() not in _SWITCHES) or _ANY_SECRET_VALUE.search(value))


def literal_secrets(doc: Located) -> list[Problem]:
    """A problem for each secret value written in ``doc``: a variable of an ``env`` mapping whose name
    says it holds a secret, or any value that looks like a private key or a known token. The value is
    never repeated in the message."""
    problems = []
    for path, value in _walk(doc.data, ()):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or value == "":
            continue
        text = str(value)
        if _in_env(path) and _SECRET_KEY.search(str(path[-1])) and text.lower() not in _SWITCHES:
            problems.append(doc.problem(path, f"'{path[-1]}' holds a secret value written into the file", _HINT))
            continue
        if _ANY_SECRET_VALUE.search(text):
            what = next(w for pattern, w in _SECRET_VALUES if pattern.search(text))
            problems.append(doc.problem(path, f"the value looks like {what}; it is not shown here", _HINT))
    return problems


def secret_problems(target: Target) -> list[Problem]:
    """A target's secrets clash with nothing: a variable is set once (by ``env`` or one secret), a path is
    mounted once. (The messages do not name the target: the same value fails alike on every cluster.)"""
    secrets = target.values.get("secrets") or {}
    env = target.values.get("env") or {}
    problems: list[Problem] = []
    by_var: dict[str, str] = {}
    by_mount: dict[str, str] = {}

    def at(*path: str) -> Origin:
        node: Any = target.origins
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return first_origin(node) or Origin(target.service.file, 1)

    for name, spec in sorted(secrets.items()):
        if not isinstance(spec, dict):
            continue
        if not spec.get("env") and not spec.get("mount"):
            o = at("secrets", name)
            problems.append(Problem(o.file, o.line, 0, f"secrets.{name}",
                                    f"secret '{name}' is neither read into env nor mounted",
                                    "add env: {VARIABLE: property} or mount: /a/path"))
        for var in sorted(spec.get("env") or {}):
            o = at("secrets", name, "env", var)
            if var in env:
                problems.append(Problem(o.file, o.line, 0, f"secrets.{name}.env.{var}",
                                        f"'{var}' is also a plain variable of env (set at {at('env', var)})",
                                        "a variable comes from env or from one secret; remove one"))
            elif var in by_var:
                problems.append(Problem(o.file, o.line, 0, f"secrets.{name}.env.{var}",
                                        f"'{var}' is also read from secret '{by_var[var]}'",
                                        "a variable comes from one secret; rename one"))
            by_var.setdefault(var, name)
        mount = spec.get("mount")
        if isinstance(mount, str):
            o = at("secrets", name, "mount")
            plain = posixpath.normpath(mount)
            if plain != mount.rstrip("/") or mount.startswith("//"):
                problems.append(Problem(o.file, o.line, 0, f"secrets.{name}.mount",
                                        f"mount path {mount} is not written plainly (it means {plain})",
                                        f"write mount: {plain}"))
                continue
            clash = next((m for m in by_mount if _overlaps(m, plain)), None)
            if clash is not None or plain == "/" or _overlaps(plain, "/tmp"):
                other = f"secret '{by_mount[clash]}' at {clash}" if clash is not None else "the pod's own folders"
                problems.append(Problem(o.file, o.line, 0, f"secrets.{name}.mount",
                                        f"mount path {mount} overlaps {other}",
                                        "mount each secret in a folder of its own, such as /etc/secrets/<name>"))
            by_mount.setdefault(plain, name)
    return problems


def _overlaps(a: str, b: str) -> bool:
    """Whether one of two normalised absolute paths is the other or below it."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def guardrail_problems(target: Target, quota: dict[str, Any], limit_range: dict[str, dict[str, Any]],
                       team: str, fits: dict[tuple[str, str], None] | None = None) -> list[Problem]:
    """The app container fits its team's namespace: what the quota counts it sets (or the LimitRange gives it
    by default), and its resources stay within the LimitRange's min and max; else Kubernetes refuses its pods.
    (The bounds themselves are checked with the team.) ``fits``: the
    (team, resources) already found to fit, within one resolve of the platform."""
    resources = target.values.get("resources") or {}
    key = (team, repr(resources))
    if fits is not None and key in fits:  # the same resources in the same team's namespace: known to fit
        return []
    problems: list[Problem] = []
    for part, default in (("limits", "default"), ("requests", "defaultRequest")):
        for res in ("cpu", "memory"):
            counted = [k for k in (f"{part}.{res}", *([res] if part == "requests" else [])) if k in quota]
            if not counted:
                continue
            given = res in (resources.get(part) or {}) or res in (limit_range.get(default) or {})
            if part == "requests":  # a request defaults to the limit
                given = given or res in (resources.get("limits") or {}) or res in (limit_range.get("default") or {})
            if not given:
                o = origin_of(target, "resources")
                problems.append(Problem(
                    o.file, o.line, 0, "resources",
                    f"team '{team}''s quota counts {counted[0]}, but the app container sets no {part}.{res} and the "
                    "team's LimitRange gives none by default: Kubernetes would refuse its pods",
                    f"set resources.{part}.{res}, or limitRange.{default}.{res} for the team in platform.yaml"))
    for part in ("limits", "requests"):
        for res, value in sorted((resources.get(part) or {}).items()):
            for bound, word in (("max", "above"), ("min", "below")):
                edge = (limit_range.get(bound) or {}).get(res)
                if edge is None or (bound == "min" and part == "limits"):
                    continue
                over = quantity(value) > quantity(edge) if bound == "max" else quantity(value) < quantity(edge)
                if over:
                    o = origin_of(target, "resources")
                    node: Any = target.origins.get("resources")
                    for step in (part, res):
                        node = node.get(step) if isinstance(node, dict) else None
                    o = node if isinstance(node, Origin) else o
                    problems.append(Problem(
                        o.file, o.line, 0, f"resources.{part}.{res}",
                        f"{part}.{res} {value} is {word} the {bound} of team '{team}''s LimitRange ({edge}): "
                        "Kubernetes would refuse its pods",
                        f"keep it within limitRange.{bound}.{res}, or ask the platform team to change it"))
    if not problems and fits is not None:
        fits[key] = None
    return problems
