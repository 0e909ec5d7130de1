"""Frozen value objects shared by the stages after validation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .yamlio import Located

__all__ = [
    "CatalogTypes",
    "Cluster",
    "CodeOwners",
    "Environment",
    "Layer",
    "Origin",
    "Platform",
    "ScorecardSpec",
    "Service",
    "Sync",
    "Target",
    "Team",
    "TemplateBudget",
    "protected_names",
]



def connection_env_prefix(name: str) -> str:
    """The prefix of the environment variables a workload gets from an infrastructure entry's Secret.

    ``payments-db`` gives ``PAYMENTS_DB_`` (so ``PAYMENTS_DB_PASSWORD``): entry names are DNS
    labels, unique within a service, so two entries never share a prefix.
    """
    return name.upper().replace("-", "_") + "_"


@dataclass(frozen=True, order=True)
class Origin:
    """Where a value was set: file and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Layer:
    """One layer of values: a mapping inside a located document, with a label."""

    label: str
    doc: Located
    base: tuple[str | int, ...]
    data: dict[str, Any]


@dataclass(frozen=True)
class Team:
    """A team of platform.yaml: it owns services and gets one AppProject."""

    name: str
    namespace: str
    description: str
    groups: tuple[str, ...]
    # its code-owner handle for CODEOWNERS; empty: the platform's handle stands in
    codeowners: str = ""
    # the ``routing`` label of its alerts, which Alertmanager routes on; empty: the team's name
    routing: str = ""
    # its namespace's guardrails (platform namespaceDefaults with the team's own merged over them):
    # the Pod Security level, the ResourceQuota's hard limits and the LimitRange's container limits
    pod_security: str = "restricted"
    quota: dict[str, Any] = field(default_factory=dict, compare=False)
    limit_range: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CodeOwners:
    """The CODEOWNERS file platform-gen owns: where it lives, and the platform team's handle."""

    path: str
    platform: str


@dataclass(frozen=True)
class Cluster:
    """A cluster of an environment."""

    name: str
    server: str
    env: str
    values: Layer
    # what the cluster runs that services may ask for (the environment's capabilities with the cluster's
    # merged over them): externalSecrets, gateways, prometheus, grafana (README "Declaring capabilities")
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sync:
    """Argo CD sync policy of an environment."""

    automated: bool = True
    prune: bool = True
    self_heal: bool = True


@dataclass(frozen=True)
class Gates:
    """What a promotion into an environment needs: its file's ``promotion`` (README "Promotion gates")."""

    source: str = ""  # the one environment promotions come from ("" for any lower one)
    soak: str = ""  # as written, such as 24h ("" for none)
    soak_seconds: int = 0
    require_digest: bool = False
    schedule: bool = False  # the promote workflow's schedule promotes into it
    line: int = 0  # the line of ``promotion:`` in the environment file
    lines: tuple[tuple[str, int], ...] = ()  # gate (from, soak, requireDigest) -> the line that sets it

    def at(self, gate: str) -> int:
        """The line of the environment file that sets ``gate`` (else that of ``promotion:``)."""
        return dict(self.lines).get(gate, self.line)


@dataclass(frozen=True)
class Environment:
    """An environment file: its clusters, defaults and sync policy."""

    name: str
    order: int
    file: str
    clusters: tuple[Cluster, ...]
    defaults: Layer
    sync: Sync
    # removing its applications needs --allow-delete (see protected_names)
    protected: bool = False
    # what a promotion into it needs (None: no gates)
    gates: Gates | None = None
    # the line of ``order:`` in its file (a promotion against the order is refused there)
    order_line: int = 0


def protected_names(orders: dict[str, int], explicit: dict[str, bool | None]) -> frozenset[str]:
    """The protected environments: ``protected`` where an environment file sets it, else the highest order's.

    ``orders`` maps every environment to its promotion order, ``explicit`` to its
    ``protected`` key (None when unset). The same rule reads the environment files
    of a git base in the deletion guard and validated ones here.
    """
    top = max(orders.values(), default=None)
    return frozenset(name for name, order in orders.items()
                     if (explicit.get(name) if explicit.get(name) is not None else order == top))


@dataclass(frozen=True)
class Service:
    """A service's config.yaml after validation."""

    name: str
    team: str
    description: str
    tier: str
    template: str
    file: str
    top: Layer
    env_layers: dict[str, Layer]
    cluster_layers: dict[tuple[str, str], Layer]
    # env name -> the clusters it runs on there (all of the environment's unless listed)
    placements: dict[str, tuple[str, ...]]
    # env name -> the Crossplane claims (or namespaced XRs) it has there
    claims: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # retire: true: Argo CD deletes what its applications deployed once they are removed
    retire: bool = False
    # the Backstage catalog (README "Seeing your service in Backstage"): the System it names ("" for its
    # team's), the services it depends on, the APIs it consumes, and the catalog files its folder holds
    system: str = ""
    depends_on: tuple[str, ...] = ()
    consumes_apis: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    def callers(self) -> tuple[str, ...]:
        """Every service its own file lets in (``allowFrom``, at any layer), sorted."""
        found: set[str] = set()
        for layer in (self.top, *self.env_layers.values(), *self.cluster_layers.values()):
            names = layer.data.get("allowFrom")
            if isinstance(names, list):
                found.update(n for n in names if isinstance(n, str))
        return tuple(sorted(found))

    def claimed(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """Each infrastructure entry once: (name, kind, the environments it is claimed in), by name."""
        where: dict[str, list[str]] = {}
        kinds: dict[str, str] = {}
        for env, claims in sorted(self.claims.items()):
            for c in claims:
                where.setdefault(c.name, []).append(env)
                kinds[c.name] = c.kind
        return tuple((name, kinds[name], tuple(envs)) for name, envs in sorted(where.items()))


@dataclass(frozen=True)
class CatalogTypes:
    """The Backstage types platform.yaml ``catalog`` sets: template -> Component type, claim kind -> Resource
    type (the others take the defaults of ``outputs/catalog.py``)."""

    components: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateBudget:
    """What rendering one template file may cost per service: wall time and memory (platform ``limits``)."""

    seconds: float = 30.0
    memory_mib: int = 2048


@dataclass(frozen=True)
class ScorecardSpec:
    """What platform.yaml's ``scorecard`` declares; None where it leaves the built-in default (``scorecard.py``)."""

    checks: tuple[str, ...] | None = None
    # (level, the checks it requires besides those of the levels below it), lowest level first
    levels: tuple[tuple[str, tuple[str, ...]], ...] | None = None


@dataclass(frozen=True)
class Platform:
    """The whole validated platform."""

    organization: str
    repo_url: str
    target_revision: str
    gitops_path: str
    argocd_namespace: str
    teams: dict[str, Team]
    defaults: Layer
    environments: tuple[Environment, ...]
    services: tuple[Service, ...]
    templates: dict[str, dict[str, str | bytes]]  # bytes only for a Helm chart's charts/*.tgz
    components: dict[str, dict[str, bytes]]
    # the platform team's Crossplane objects (XRDs, Compositions, Functions), as loaded
    crossplane: tuple[Located, ...] = ()
    # kind -> what its XRD offers to services (an infrastructure.InfraKind)
    infra_kinds: dict[str, Any] = field(default_factory=dict)
    # the CODEOWNERS file to render, if the platform declares one
    codeowners: CodeOwners | None = None
    # (group, kind) a team's application may hold, as platform.yaml lists them; empty: the default
    team_resources: tuple[tuple[str, str], ...] = ()
    # the time and memory a template may use (platform.yaml ``limits``)
    budget: TemplateBudget = field(default_factory=TemplateBudget)
    # whether the repo keeps the editor schemas (it has a ``schemas/`` folder): render keeps them current
    editor_schemas: bool = False
    # the maturity checks and levels of 'platform-gen scorecard' (platform.yaml ``scorecard``)
    scorecard: ScorecardSpec = field(default_factory=ScorecardSpec)
    # template -> the values of its starter.yaml (the top level's value keys), where it has one
    starters: dict[str, dict[str, Any]] = field(default_factory=dict)
    # template -> its starter.yaml whole (a config.yaml in part): the Scaffolder skeleton writes it, as new does
    starter_docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the values 'platform-gen promote' copies (platform.yaml ``promotion.keys``)
    promotion_keys: tuple[str, ...] = ("image", "tag", "digest")
    # how the catalog names component and resource types (platform.yaml ``catalog``)
    catalog: CatalogTypes = field(default_factory=CatalogTypes)
    # service folder -> the catalog files it holds (``load.FEATURE_FILES``), for every service folder
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # digests of the shared inputs (an index.SharedInputs) and of every input file read
    inputs: Any = None
    digests: dict[str, str] = field(default_factory=dict)
    # a service's config.yaml by name, parsed on demand (for problems of services not parsed)
    doc_of: Callable[[str], Located] | None = field(default=None, repr=False, compare=False)

    def env(self, name: str) -> Environment:
        """The environment called ``name``."""
        return next(e for e in self.environments if e.name == name)


@dataclass(frozen=True)
class Target:
    """One (service, environment, cluster): effective values and their origins."""

    service: Service
    env: Environment
    cluster: Cluster
    values: dict[str, Any]
    layers: tuple[Layer, ...] = field(default=(), repr=False, compare=False)

    @cached_property
    def origins(self) -> dict[str, Any]:
        """Where each value was set: the shape of ``values``, a file and line at every leaf."""
        from .merge import merge_origins

        return merge_origins(list(self.layers))

    @property
    def app_name(self) -> str:
        """The Argo CD Application name of this target."""
        return f"{self.service.name}-{self.cluster.name}"
