"""JSON Schemas of the input files, and their translation into located problems.

The schemas are data (as pre-commit's are); :func:`check` runs one over a located
document and turns every error into a :class:`~generator.errors.Problem` with the
file, line, column and key path, plus a hint (did-you-mean for unknown keys).
"""

from __future__ import annotations

import contextvars
import datetime
import difflib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from .errors import Problem
from .fastschema import Check, compile_schema
from .limits import MAX_DESCRIPTION
from .yamlio import Located

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "CAPABILITIES",
    "ENVIRONMENT",
    "ENV_VALUE_KEYS",
    "PLATFORM",
    "SCORECARD",
    "SCORECARD_CHECKS",
    "SCORECARD_LEVELS",
    "SERVICE",
    "STARTER",
    "VALUE_KEYS",
    "check",
    "did_you_mean",
    "pattern_words",
    "quantity",
]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z"
SERVICE_NAME = r"^[a-z]([a-z0-9-]*[a-z0-9])?\Z"
HTTPS_URL = r"^https://\S+\Z"
PATH = r"^/\S*\Z"
NO_SPACE = r"^\S+\Z"
ONE_LINE = r"^\S(.*\S)?\Z"
# Patterns end in \Z, never $: jsonschema applies them with re.search, and Python's $
# also matches before a final newline ("1.4.2\n" would pass).
QUANTITY = {"type": ["string", "integer", "number"], "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?\Z"}
_UNITS = {"m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?\Z")


def quantity(value: str | float) -> float:
    """A Kubernetes quantity (already matched by :data:`QUANTITY`'s pattern) as a number: 250m is 0.25, 1Ki 1024."""
    m = _QUANTITY.match(str(value))
    assert m is not None
    return float(m.group(1)) * _UNITS.get(m.group(2) or "", 1)


#: A code owner as GitHub's CODEOWNERS takes it: @org/team, @user or an e-mail address.
HANDLE = r"^(@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(/[A-Za-z0-9][A-Za-z0-9._-]*)?|[^@\s]+@[^@\s]+\.[^@\s]+)\Z"
#: Where GitHub reads a CODEOWNERS file, relative to the repository's root.
CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
KIND = r"^[A-Z][A-Za-z0-9]*\Z"
API_GROUP = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?\Z"

def _quantity(description: str) -> dict[str, Any]:
    """:data:`QUANTITY` with a description (what an editor shows on hover; the validator ignores it)."""
    return {**QUANTITY, "description": description}


_RESOURCE_MAP = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "cpu": _quantity("CPU, in cores: 250m is a quarter of a core, 0.5 or 2 are cores."),
        "memory": _quantity("Memory, in bytes with a unit: 256Mi, 1Gi."),
        "ephemeral-storage": _quantity("Local scratch disk, in bytes with a unit: 1Gi."),
    },
}

#: A duration as Prometheus, Argo CD and External Secrets write it: 30s, 5m, 1h, 1h30m.
DURATION = r"^([0-9]+(ms|s|m|h))+\Z"
#: A host name (RFC 1123), lower case: what a route's hostnames and a cluster's domain take.
HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
#: An environment variable's name, as a container's env takes it.
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*\Z"

#: A service's secrets, by reference only (README "Using a secret"): a mapping by name, so that an
#: environment or cluster overrides one secret's ``key`` as it overrides any other value.
SECRETS_PROP: dict[str, Any] = {
    "type": "object",
    "description": "Secrets from the platform's secret store, by name; the values never appear in the repo "
                   "(README \"Using a secret\").",
    "propertyNames": {"pattern": DNS_LABEL, "maxLength": 40},
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "required": ["key"],
        "properties": {
            "key": {"type": "string", "maxLength": 253, "pattern": r"^[A-Za-z0-9_./@:-]+\Z",
                    "description": "The secret's path in the platform's secret store, such as payments/stripe."},
            "env": {
                "type": "object",
                "description": "Environment variables read from the secret: VARIABLE: property of the secret.",
                "minProperties": 1,
                "propertyNames": {"pattern": ENV_NAME},
                "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 253,
                                         "pattern": r"^[A-Za-z0-9_.-]+\Z"},
            },
            "mount": {"type": "string", "pattern": r"^/[A-Za-z0-9_./-]*\Z",
                      "description": "A folder to mount the secret's properties in as files, such as "
                                     "/etc/secrets/stripe."},
        },
    },
}

#: A route's path prefix, as Gateway API takes it: '/' or segments of URL characters, no '.' or '..'
#: segment, no '//', '%' or '#'.
ROUTE_PATH = r"^(/|(/(?!\.\.?(/|\Z))[A-Za-z0-9._~!$&'()*+,;=:@-]+)+/?)\Z"

#: A service's URL (README "Getting a URL").
EXPOSE_PROP: dict[str, Any] = {
    "type": "object",
    "description": "A URL for the service, through the cluster's Gateway API gateway (README \"Getting a URL\").",
    "additionalProperties": False,
    "properties": {
        "http": {
            "type": "object",
            "description": "HTTP routes to the service's port.",
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "pattern": ROUTE_PATH, "maxLength": 1024,
                         "description": "The path prefix routed to the service (default: /)."},
                "public": {"type": "boolean",
                           "description": "true: on the public gateway; false (the default): on the internal one."},
                "host": {"type": "string", "pattern": HOSTNAME, "maxLength": 253,
                         "description": "The host name (default: <service>.<the gateway's domain>)."},
            },
        },
    },
}

#: A latency objective above zero, in milliseconds or seconds: 300ms, 1.5s (a histogram bucket boundary).
LATENCY = r"^(?=[0-9.]*[1-9])[0-9]+(\.[0-9]+)?(ms|s)\Z"
#: A team's alert routing: a Prometheus label value that Alertmanager routes on.
ROUTING = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z"

#: Its objectives (README "Metrics, alerts and dashboards"): availability in percent, latency per percentile.
SLO_PROP: dict[str, Any] = {
    "type": "object",
    "description": "Service level objectives: burn-rate alerts to the team (README \"Metrics, alerts and "
                   "dashboards\").",
    "additionalProperties": False,
    "properties": {
        # 100 leaves no error budget (every failed request would breach it); below 50 is no objective
        "availability": {"type": "number", "minimum": 50, "exclusiveMaximum": 100,
                         "description": "The percentage of requests that succeed, such as 99.9.",
                         "x-hint": "availability is the percentage of requests that succeed, at least 50 and "
                                   "below 100 (100 leaves no error budget), such as 99.9"},
        "latency": {
            "type": "object",
            "description": "Latency objectives per percentile, such as p99: 300ms.",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {p: {"type": "string", "pattern": LATENCY,
                               "description": f"The {p[1:3]}.{p[3:]}th percentile's latency objective, such as "
                                              "300ms or 1.5s." if len(p) > 3 else
                                              f"The {p[1:]}th percentile's latency objective, such as 300ms or 1.5s."}
                           for p in ("p50", "p90", "p95", "p99", "p999")},
        },
    },
}

#: The services whose pods may call this one (README "Team guardrails").
ALLOW_FROM_PROP: dict[str, Any] = {
    "type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": SERVICE_NAME, "maxLength": 40},
    "description": "The services whose pods may call this one (every other caller is denied).",
}

#: An IANA time zone name as a CronJob's timeZone takes it: Etc/UTC, Europe/Berlin, America/Argentina/Salta.
TIME_ZONE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*\Z"
#: The services this one needs to run (README "Seeing your service in Backstage").
DEPENDS_ON_PROP: dict[str, Any] = {
    "type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": SERVICE_NAME, "maxLength": 40},
    "description": "The services this one needs to run: its Backstage Component depends on theirs (each must "
                   "exist).",
}
#: An API a service consumes: a service (every API it provides) or one of its APIs (``<service>.openapi``).
API_REF = r"^[a-z]([a-z0-9-]*[a-z0-9])?(\.(openapi|asyncapi))?\Z"
CONSUMES_APIS_PROP: dict[str, Any] = {
    "type": "array", "uniqueItems": True, "items": {"type": "string", "pattern": API_REF, "maxLength": 49},
    "description": "The APIs this service calls: a service (every API its folder provides, openapi.yaml or "
                   "asyncapi.yaml) or one of them, <service>.openapi or <service>.asyncapi.",
}
#: A Backstage type (of a Component or a Resource): lower-case words joined by '-', as Backstage's own are.
CATALOG_TYPE = r"^[a-z0-9]+(-[a-z0-9]+)*\Z"

#: Values that may vary per environment and cluster (the overlays patch them).
ENV_VALUE_PROPS: dict[str, Any] = {
    "image": {"type": "string", "minLength": 1, "pattern": r"^(?:[^\s/:@]+:[0-9]+/)?[^\s:@]+\Z",
              "description": "The container image, without tag or digest, such as ghcr.io/acme/app."},
    "tag": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\Z",
            "description": "The image tag, a string: quote versions (\"1.10\")."},
    "digest": {"type": "string", "pattern": r"^sha256:[0-9a-f]{64}\Z",
               "description": "The image's digest, sha256:<64 hex digits>: pins the image (image@digest) whatever "
                              "the tag says (README \"Promotion gates\")."},
    "replicas": {"type": "integer", "minimum": 0, "maximum": 1000, "description": "How many pods run."},
    "resources": {
        "type": "object",
        "description": "The app container's resources.",
        "additionalProperties": False,
        "properties": {"requests": {**_RESOURCE_MAP, "description": "What the scheduler reserves for it."},
                       "limits": {**_RESOURCE_MAP, "description": "What it may use at most."}},
    },
    "env": {
        "type": "object",
        "description": "Environment variables of the app container: NAME: value (a string or a number that reads "
                       "as written). Never a secret value: see secrets.",
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*\Z"},
        "additionalProperties": {"type": ["string", "integer", "number"]},
    },
    "autoscaling": {
        "type": "object",
        "description": "Horizontal pod autoscaling, for templates that render a HorizontalPodAutoscaler.",
        "additionalProperties": False,
        "properties": {
            "maxReplicas": {"type": "integer", "minimum": 1, "maximum": 1000,
                            "description": "At most this many pods (at least replicas)."},
            "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100,
                                               "description": "The CPU use, in percent of the request, to scale "
                                                              "at."},
        },
    },
    "secrets": SECRETS_PROP,
    "expose": EXPOSE_PROP,
    "slo": SLO_PROP,
    "allowFrom": ALLOW_FROM_PROP,
    # a CronJob's (README "Batch work: CronJob and Job"); validate checks the cron fields and the zone
    "schedule": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": ONE_LINE,
                 "description": "When a CronJob golden path runs: five cron fields (minute hour day-of-month month "
                                "day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly; batch work only."},
    "timeZone": {"type": "string", "maxLength": 64, "pattern": TIME_ZONE,
                 "description": "The IANA time zone of the schedule, such as Europe/Berlin (default: the "
                                "cluster's); batch work only."},
}
#: Values that shape the base and so are set only in platform defaults or a service's top level.
BASE_ONLY_PROPS: dict[str, Any] = {
    "port": {"type": "integer", "minimum": 1, "maximum": 65535,
             "description": "The port the app listens on (set here or in platform defaults only)."},
    "healthPath": {"type": "string", "pattern": PATH,
                   "description": "The path of the readiness and liveness probes, such as /healthz (set here or "
                                  "in platform defaults only)."},
    # where the workload serves Prometheus metrics: its container port and the Service's are named "metrics"
    "metrics": {
        "type": ["object", "null"],
        "description": "Where the app serves Prometheus metrics (a monitor is rendered where Prometheus runs); "
                       "null: none.",
        "additionalProperties": False,
        "properties": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                     "description": "The metrics port (default: the app's port)."},
            "path": {"type": "string", "pattern": PATH, "description": "The metrics path (default: /metrics)."},
            "interval": {"type": "string", "pattern": DURATION,
                         "description": "How often Prometheus scrapes, such as 30s."},
        },
    },
}
VALUE_PROPS = {**ENV_VALUE_PROPS, **BASE_ONLY_PROPS}
VALUE_KEYS = frozenset(VALUE_PROPS)
ENV_VALUE_KEYS = frozenset(ENV_VALUE_PROPS)

#: A team's namespace guardrails (README "Team guardrails"): platform-wide ``namespaceDefaults``, and a
#: team's own ``guardrails`` merged over them, key by key.
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
_COUNT = {"type": "integer", "minimum": 0, "maximum": 1000000}
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.storage",
              "requests.ephemeral-storage", "limits.ephemeral-storage")
QUOTA_COUNTS = ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets")
GUARDRAILS: dict[str, Any] = {
    "type": "object",
    "description": "A team namespace's guardrails (README \"Team guardrails\").",
    "additionalProperties": False,
    "properties": {
        "podSecurity": {"type": "string", "enum": list(POD_SECURITY_LEVELS),
                        "description": "The Pod Security Standard enforced in the namespace (default: restricted)."},
        "quota": {
            "type": "object",
            "description": "The namespace's ResourceQuota: totals of all its pods, and counts of objects.",
            "additionalProperties": False,
            "properties": {**{k: _quantity(f"The total {k} of the namespace.") for k in QUOTA_KEYS},
                           **{k: {**_COUNT, "description": f"At most this many {k}."} for k in QUOTA_COUNTS}},
        },
        "limitRange": {
            "type": "object",
            "description": "The namespace's LimitRange for containers.",
            "additionalProperties": False,
            "properties": {k: {**_RESOURCE_MAP, "description": d} for k, d in (
                ("default", "The limits of a container that sets none."),
                ("defaultRequest", "The requests of a container that sets none."),
                ("min", "The least a container may request."),
                ("max", "The most a container may use."))},
        },
    },
}

#: The maturity checks ``platform-gen scorecard`` offers, in their default order, each with what it asks of a
#: service (README "Scorecards"); ``scorecard.py`` measures them.
SCORECARD_CHECKS: dict[str, str] = {
    "owner": "the service names its team and has a description",
    "probes": "the rendered workload's app container has a readiness and a liveness probe",
    "limits": "a memory limit is set on every cluster it runs on",
    "secrets": "secrets by reference only: no Secret with data is rendered, and no container holds a secret "
               "value in a literal env value",
    "replicas": "at least 2 replicas (the autoscaler's minimum) on every cluster of the last environment",
    "pinned-image": "the image tag is a full version (1.4.2, v2.0.1-rc.1) or a commit id on every cluster, never "
                    "latest or a branch",
    "dashboard": "a Grafana dashboard is rendered on every cluster it runs on",
    "slo": "objectives (slo) are declared on every cluster it runs on",
    "alerts": "SLO alerts (a PrometheusRule) are rendered on every cluster it runs on",
    "docs": "the service folder holds docs (mkdocs.yml)",
}
#: The maturity levels, lowest first: each requires its own checks and those of the levels below it.
SCORECARD_LEVELS = ("bronze", "silver", "gold")
_CHECK_NAME = {"type": "string", "enum": list(SCORECARD_CHECKS)}


def _check_list(description: str) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": _CHECK_NAME, "description": description}


#: What ``platform-gen scorecard`` measures (README "Scorecards").
#: Values 'platform-gen promote' may copy (platform.yaml promotion.keys): the scalar ones.
PROMOTABLE_KEYS: tuple[str, ...] = tuple(k for k, v in ENV_VALUE_PROPS.items()
                                         if v.get("type") in ("string", "integer", "boolean"))

SCORECARD: dict[str, Any] = {
    "type": "object",
    "description": "The maturity checks 'platform-gen scorecard' measures and the levels they grant "
                   "(README \"Scorecards\"); without it, every check and the built-in levels.",
    "additionalProperties": False,
    "properties": {
        "checks": _check_list("The checks to measure, in the order reports show them (default: all): "
                              + "; ".join(f"{k}: {v}" for k, v in SCORECARD_CHECKS.items()) + "."),
        "levels": {
            "type": "object",
            "description": "What each level requires besides the levels below it (bronze < silver < gold); a "
                         "level left out is not granted. Default: bronze owner, probes, limits, secrets; silver "
                         "replicas, pinned-image, dashboard; gold slo, alerts, docs (limited to the checks).",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {level: _check_list(f"The checks {level} requires besides those of the levels below it.")
                           for level in SCORECARD_LEVELS},
        },
    },
}

_ENV_VALUES = {"type": "object", "additionalProperties": False, "properties": ENV_VALUE_PROPS}
_VALUES = {"type": "object", "additionalProperties": False, "properties": VALUE_PROPS}

PLATFORM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["organization", "gitops", "teams"],
    "properties": {
        "organization": {"type": "string", "pattern": DNS_LABEL, "maxLength": 40,
                         "description": "The organisation's name: a label of every object, and the part-of of "
                                        "every service."},
        "gitops": {
            "type": "object",
            "description": "Where Argo CD pulls the rendered tree from.",
            "additionalProperties": False,
            "required": ["repoURL", "targetRevision"],
            "properties": {
                "repoURL": {"type": "string", "minLength": 1, "pattern": NO_SPACE,
                            "description": "The git repository of the rendered tree."},
                "targetRevision": {"type": "string", "minLength": 1, "pattern": NO_SPACE,
                                   "description": "The branch, tag or commit Argo CD follows, such as main."},
                "path": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\Z",
                         "description": "The tree's folder in the repository (default: rendered)."},
            },
        },
        "argocd": {
            "type": "object",
            "description": "The Argo CD installation.",
            "additionalProperties": False,
            "properties": {"namespace": {"type": "string", "pattern": DNS_LABEL,
                                         "description": "Where Argo CD's objects live (default: argocd)."}},
        },
        "teams": {
            "type": "object",
            "description": "The teams, by name: each gets an AppProject and a namespace per cluster it runs on.",
            "minProperties": 1,
            "propertyNames": {"pattern": DNS_LABEL, "maxLength": 50},
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {
                    "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                                  "description": "The team's namespace (default: team-<name>)."},
                    "description": {"type": "string", "maxLength": MAX_DESCRIPTION,
                                    "description": "What the team does: its AppProject's description."},
                    "groups": {"type": "array", "items": {"type": "string", "minLength": 1, "pattern": ONE_LINE},
                               "description": "SSO groups: they become the AppProject's role."},
                    "codeowners": {"type": "string", "pattern": HANDLE,
                                   "description": "The team's code owner (@org/team, @user or an e-mail) for its "
                                                  "services' folders."},
                    # where the team's alerts go (README "Metrics, alerts and dashboards"); default: the team name
                    "routing": {"type": "string", "pattern": ROUTING, "maxLength": 63,
                                "description": "Where the team's alerts go: the label Alertmanager routes on "
                                               "(default: the team's name)."},
                    "guardrails": GUARDRAILS,
                },
            },
        },
        "codeowners": {
            "type": "object",
            "description": "The CODEOWNERS file platform-gen renders.",
            "additionalProperties": False,
            "required": ["path", "platform"],
            "properties": {
                "path": {"type": "string", "enum": list(CODEOWNERS_PATHS),
                         "description": "Where GitHub reads it."},
                "platform": {"type": "string", "pattern": HANDLE,
                             "description": "The platform team's handle: it owns the platform's files."},
            },
        },
        "namespaceDefaults": {**GUARDRAILS, "description": "Every team namespace's guardrails (a team's own "
                                                           "guardrails merge over them)."},
        "reservedNamespaces": {"type": "array", "items": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
                               "description": "Namespaces no team may take."},
        "teamResources": {
            "type": "array",
            "description": "The kinds a team's application may hold (default: what the templates render).",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["group", "kind"],
                "properties": {
                    "group": {"type": "string", "pattern": API_GROUP,
                              "description": "The API group, such as apps, or '' for the core group."},
                    "kind": {"type": "string", "pattern": KIND, "description": "The kind, such as Deployment."},
                },
            },
        },
        "defaults": {**_VALUES, "description": "The lowest layer of every service's values."},
        "scorecard": SCORECARD,
        "promotion": {
            "type": "object",
            "description": "What 'platform-gen promote' copies from one environment to the next (README "
                           "\"Promoting a release\").",
            "additionalProperties": False,
            "properties": {
                "keys": {"type": "array", "minItems": 1, "uniqueItems": True,
                         "items": {"enum": list(PROMOTABLE_KEYS)},
                         "description": "The values promoted (default: image, tag and digest)."},
            },
        },
        # what a template may cost per service (README "Template budgets")
        # how the Backstage catalog types what it shows (README "Seeing your service in Backstage")
        "catalog": {
            "type": "object",
            "description": "How the Backstage catalog types services and their infrastructure (README \"Seeing "
                           "your service in Backstage\").",
            "additionalProperties": False,
            "properties": {
                "componentTypes": {
                    "type": "object",
                    "description": "The Component type of a golden path's services, by template (default: "
                                   "service).",
                    "additionalProperties": {"type": "string", "pattern": CATALOG_TYPE, "maxLength": 63,
                                             "description": "A Backstage component type, such as service or "
                                                            "website."},
                },
                "resourceTypes": {
                    "type": "object",
                    "description": "The Resource type of an infrastructure kind's claims, by kind (default: from "
                                   "the kind's name: database, bucket, queue).",
                    "additionalProperties": {"type": "string", "pattern": CATALOG_TYPE, "maxLength": 63,
                                             "description": "A Backstage resource type, such as database."},
                },
            },
        },
        "limits": {
            "type": "object",
            "description": "What a template may cost per service (README \"Template budgets\").",
            "additionalProperties": False,
            "properties": {
                "templateSeconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600,
                                    "description": "Wall-clock seconds for one template file and one service "
                                                   "(default: 30)."},
                "templateMemoryMiB": {"type": "integer", "minimum": 64, "maximum": 65536,
                                      "description": "Memory the renderer may add while it renders, in MiB "
                                                     "(default: 2048)."},
            },
        },
    },
}

_GATEWAY = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["name", "namespace", "domain"],
    "properties": {
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253, "description": "The Gateway's name."},
        "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                      "description": "The Gateway's namespace."},
        "domain": {"type": "string", "pattern": HOSTNAME, "maxLength": 200,
                   "description": "Services get <service>.<domain> unless they name a host."},
        "sectionName": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253,
                        "description": "The Gateway's listener to attach to."},
    },
}
LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z"
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z"
_LABELS = {
    "type": "object",
    "propertyNames": {"pattern": LABEL_KEY, "maxLength": 316},
    "additionalProperties": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63},
}

#: What a cluster runs that services may ask for (README "Declaring capabilities"): set for an environment's
#: clusters under ``capabilities``, and per cluster under ``clusters[].capabilities`` (merged over the
#: environment's; ``null`` takes one away).
CAPABILITIES: dict[str, Any] = {
    "type": "object",
    "description": "What the clusters run that services may ask for (README \"Declaring capabilities\"); null "
                   "takes one away.",
    "additionalProperties": False,
    "properties": {
        "externalSecrets": {
            "type": ["object", "null"],
            "description": "External Secrets: services' secrets come from this store.",
            "additionalProperties": False,
            "required": ["store"],
            "properties": {
                "store": {"type": "string", "pattern": DNS_LABEL, "maxLength": 253,
                          "description": "The secret store's name."},
                "kind": {"type": "string", "enum": ["ClusterSecretStore", "SecretStore"],
                         "description": "The store's kind (default: ClusterSecretStore)."},
                "refreshInterval": {"type": "string", "pattern": DURATION,
                                    "description": "How often secrets are read again, such as 1h."},
            },
        },
        "gateways": {
            "type": ["object", "null"],
            "description": "Gateway API gateways: services' URLs (expose) attach to them.",
            "additionalProperties": False,
            "properties": {"public": {**_GATEWAY, "description": "The gateway of public URLs."},
                           "internal": {**_GATEWAY, "description": "The gateway of internal URLs."}},
        },
        "prometheus": {
            "type": ["object", "null"],
            "description": "The Prometheus operator: services' monitors and SLO alerts.",
            "additionalProperties": False,
            "required": ["namespace"],
            "properties": {
                "namespace": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                              "description": "Prometheus's namespace."},
                "selector": {**_LABELS, "description": "The labels Prometheus selects monitors and rules by."},
            },
        },
        "grafana": {
            "type": ["object", "null"],
            "description": "Grafana: a dashboard per service.",
            "additionalProperties": False,
            "properties": {
                "dashboardLabel": {"type": "string", "pattern": LABEL_KEY, "maxLength": 316,
                                   "description": "The label Grafana's sidecar finds dashboards by."},
                "dashboardLabelValue": {"type": "string", "pattern": LABEL_VALUE, "maxLength": 63,
                                        "description": "The value of that label."},
                "folder": {"type": "string", "pattern": ONE_LINE, "maxLength": 100,
                           "description": "The Grafana folder of the dashboards."},
            },
        },
    },
}

def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    return schema


#: A cluster's own capabilities: merged over its environment's, so each may name only what it changes (the
#: merged capabilities are then checked for what each one requires).
CLUSTER_CAPABILITIES: dict[str, Any] = _without_required(CAPABILITIES)


ENVIRONMENT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "order", "clusters"],
    "properties": {
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 30,
                 "description": "The environment's name: the file's name without .yaml."},
        "order": {"type": "integer", "minimum": 0,
                  "description": "The promotion order, unique: dev 0 < staging 1 < prod 2."},
        "protected": {"type": "boolean",
                      "description": "Whether the deletion guard keeps its applications (default: true for the "
                                     "highest order only)."},
        "clusters": {
            "type": "array",
            "description": "The environment's clusters; names and servers are unique across environments.",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "server"],
                "properties": {
                    "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 40,
                             "description": "The cluster's name, unique across environments."},
                    "server": {"type": "string", "pattern": HTTPS_URL,
                               "description": "The cluster's API server, as Argo CD knows it."},
                    "values": {**_ENV_VALUES, "description": "Values for every service on this cluster."},
                    "capabilities": {**CLUSTER_CAPABILITIES,
                                     "description": "This cluster's capabilities, merged over the environment's; "
                                                    "null takes one away."},
                },
            },
        },
        "defaults": {**_ENV_VALUES, "description": "Values for every service in this environment."},
        # what each capability requires is checked on each cluster's merged capabilities
        "capabilities": {**CLUSTER_CAPABILITIES,
                         "description": "What every cluster of the environment runs that services may ask for "
                                        "(README \"Declaring capabilities\")."},
        # the gates of a promotion into this environment (README "Promotion gates", issue 13)
        "promotion": {
            "type": "object",
            "description": "What a promotion into this environment needs (README \"Promotion gates\").",
            "additionalProperties": False,
            "properties": {
                "from": {"type": "string", "pattern": DNS_LABEL, "maxLength": 30,
                         "description": "The one environment promotions come from: one of lower order."},
                "soak": {"type": "string", "pattern": r"^[1-9][0-9]{0,5}[mhd]\Z",
                         "description": "How long the value must have been in the source environment's rendered "
                                        "tree on the first-parent history: minutes, hours or days (30m, 24h, 7d)."},
                "requireDigest": {"type": "boolean",
                                  "description": "The image must be pinned by digest (a digest value, sha256:...)."},
                "schedule": {"type": "boolean",
                             "description": "The promote workflow's schedule promotes into it (default: false)."},
            },
        },
        "sync": {
            "type": "object",
            "description": "Argo CD's sync policy for the environment's applications.",
            "additionalProperties": False,
            "properties": {
                "automated": {"type": "boolean", "description": "Sync on every change (default: true)."},
                "prune": {"type": "boolean", "description": "Delete what the tree no longer has (default: true)."},
                "selfHeal": {"type": "boolean", "description": "Undo changes made on the cluster (default: true)."},
            },
        },
    },
}

_INFRA_ENTRY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "name"],
    "properties": {
        "kind": {"type": "string", "minLength": 1,
                 "description": "What to ask for: a kind an XRD of platform-config/crossplane/ offers."},
        "name": {"type": "string", "pattern": DNS_LABEL, "maxLength": 50,
                 "description": "Its name, unique within the service (and its namespace); its connection Secret "
                                "is <name>-credentials."},
        "parameters": {"type": "object", "description": "What the kind's XRD lets a service choose."},
        "environments": {"type": "array", "minItems": 1, "items": {"type": "string"},
                         "description": "Only in these environments of the service (default: all of them)."},
    },
}

_INFRA_OVERRIDES = {
    "type": "object",
    "description": "Per-environment parameters of infrastructure entries, by the entry's name.",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"parameters": {"type": "object",
                                      "description": "Merged over the entry's parameters in this environment."}},
    },
}

_SERVICE_ENV = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {
        **ENV_VALUE_PROPS,
        "infrastructure": _INFRA_OVERRIDES,
        "onlyClusters": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string"},
                         "description": "Run on these clusters of the environment only (default: all of them)."},
        "clusters": {
            "type": "object",
            "description": "Overrides for one cluster, by name; they never change where the service runs.",
            "minProperties": 1,
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": ENV_VALUE_PROPS,
            },
        },
    },
}

SERVICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "team", "template", "image", "tag"],
    "properties": {
        "name": {"type": "string", "pattern": SERVICE_NAME, "maxLength": 40,
                 "description": "The service's name: its folder's name."},
        "team": {"type": "string", "description": "The team that owns the service: a team of platform.yaml."},
        "description": {"type": "string", "maxLength": MAX_DESCRIPTION, "description": "What the service does."},
        "tier": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                 "description": "A label for the service's tier, such as tier-1."},
        "retire": {"type": "boolean",
                   "description": "true takes the service down for good (README \"Retiring a service\")."},
        "system": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63,
                   "description": "The Backstage System the service belongs to (default: its team's)."},
        "dependsOn": DEPENDS_ON_PROP,
        "consumesApis": CONSUMES_APIS_PROP,
        "template": {"type": "string",
                     "description": "The golden path: a folder of platform-config/templates/."},
        **VALUE_PROPS,
        "infrastructure": {"type": "array", "items": _INFRA_ENTRY,
                           "description": "Databases, buckets and queues for the service (README \"Requesting a "
                                          "database\")."},
        "environments": {"type": ["object", "null"], "additionalProperties": _SERVICE_ENV,
                         "description": "Where the service runs, with per-environment values: only these "
                                        "environments are rendered."},
    },
}

#: A golden path's starter values (``platform-config/templates/<template>/starter.yaml``): a config.yaml in
#: part, that ``platform-gen new`` starts a service from and that the sample render checking the template
#: uses (README "Batch work: CronJob and Job", every template is checked).
STARTER: dict[str, Any] = {**SERVICE, "required": []}

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}

_PATTERNS = {
    DNS_LABEL: "lower-case letters, digits and '-', starting and ending with a letter or digit",
    SERVICE_NAME: "lower-case letters, digits and '-', starting with a letter",
    QUANTITY["pattern"]: "a Kubernetes quantity such as 250m, 0.5, 512Mi or 2Gi",
    HANDLE: "a code owner: @org/team, @user or an e-mail address",
    KIND: "a Kubernetes kind such as Deployment",
    API_GROUP: "an API group such as apps, or '' for the core group",
    ENV_VALUE_PROPS["tag"]["pattern"]: "letters, digits, '_', '.' and '-', not starting with '.' or '-'",
    ENV_VALUE_PROPS["image"]["pattern"]: "an image name without a tag or digest, such as ghcr.io/acme/app",
    ENV_VALUE_PROPS["env"]["propertyNames"]["pattern"]: "letters, digits, '_', '.' and '-', not starting with a digit",
    HTTPS_URL: "an https:// URL",
    SECRETS_PROP["additionalProperties"]["properties"]["key"]["pattern"]:
        "a path in the platform's secret store: letters, digits and _ . / @ : -",
    PATH: "a path starting with '/'",
    ROUTE_PATH: "a path prefix such as / or /api: segments of letters, digits and -._~!$&'()*+,;=:@ after each '/', "
                "none empty, '.' or '..'",
    HOSTNAME: "a lower-case host name such as shop.acme.io",
    NO_SPACE: "no spaces or line breaks",
    ONE_LINE: "one line, without leading or trailing spaces",
    LATENCY: "a duration above zero in ms or s, such as 300ms or 1.5s",
    ROUTING: "letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    TIME_ZONE: "a time zone name such as Etc/UTC or Europe/Berlin",
    API_REF: "a service's name, or a service's name and .openapi or .asyncapi",
    CATALOG_TYPE: "lower-case letters and digits, words joined by single '-'",
}


def pattern_words(pattern: str) -> str:
    """What a pattern of these schemas allows, in words ('' for a pattern without them)."""
    return _PATTERNS.get(pattern, "")


_HINTS_BASE_ONLY = (
    "{key} shapes the base manifests, so it can be set only in platform defaults "
    "or at the top level of a service's config.yaml"
)


def did_you_mean(word: str, choices: list[str] | set[str] | frozenset[str], what: str = "") -> str:
    """A hint naming the closest valid choice, or listing them all."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return f"no {what or 'choices'} are defined"
    listed = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"valid {what or 'keys'}: {listed}"


def _describe(value: Any) -> str:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value.isoformat()}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def _brief(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, cut short: messages never echo a whole large value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "the boolean"
    return "the number" if isinstance(value, (int, float)) else "the value"


def _types(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    names = [n for n in names if n != "null"] or names
    if "integer" in names and "number" in names:  # every integer is a number
        names.remove("integer")
    return " or ".join(_TYPE_NAMES.get(n, n) for n in names)


def _range_hint(schema: Any) -> str:
    """``allowed: 0 to 1000`` from a schema's bounds."""
    low = schema.get("minimum", schema.get("exclusiveMinimum")) if isinstance(schema, dict) else None
    high = schema.get("maximum", schema.get("exclusiveMaximum")) if isinstance(schema, dict) else None
    if low is not None and high is not None:
        return f"allowed: {low} to {high}" + (" (both excluded)" if "exclusiveMinimum" in schema
                                              and "exclusiveMaximum" in schema else
                                              f" ({low} excluded)" if "exclusiveMinimum" in schema else "")
    if low is not None:
        return f"allowed: more than {low}" if "exclusiveMinimum" in schema else f"allowed: {low} or more"
    if high is not None:
        return f"allowed: up to {high}"
    return ""


def _error_problems(doc: Located, err: ValidationError) -> list[Problem]:
    path: tuple[str | int, ...] = tuple(err.absolute_path)
    v = err.validator
    inst = err.instance
    if v == "additionalProperties" and isinstance(inst, dict):
        sch: Any = err.schema
        props = set(sch.get("properties", {}))
        out = []
        for key in sorted(k for k in inst if k not in props):
            hint = (
                _HINTS_BASE_ONLY.format(key=key)
                # (at a level of values: where the keys that may vary per environment are)
                if key in BASE_ONLY_PROPS and not (BASE_ONLY_PROPS.keys() & props) and "replicas" in props
                else did_you_mean(key, props)
            )
            out.append(doc.problem((*path, key), f"unknown key '{key}'", hint, key=True))
        return out
    if v == "required":
        missing = str(err.message).split("'")[1] if "'" in err.message else err.message
        return [doc.problem(path, f"missing required key '{missing}'", f"add {missing}: (see the README)")]
    if v == "type":
        hint = ""
        got = _describe(inst)
        written = doc.raw.get(path)
        if written is not None and written not in got and inst is not None:  # 1.10 is the number 1.1
            got = f"{written} (read as {_kind_of(inst)} {got})"
        if "string" in (err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]) \
                and isinstance(inst, (int, float, bool, datetime.date)):
            hint = f"quote it: \"{written if written is not None else _describe(inst)}\""
        elif inst is None:
            hint = f"give it a value ({_types(err.validator_value)}), or remove the key"
        elif len(path) >= 2 and path[-2] == "latency" and isinstance(inst, (int, float)):
            hint = f"write a duration with its unit, such as {inst}ms"
        elif path and path[-1] == "secrets" and isinstance(inst, list):
            hint = ("secrets is a mapping by name: "
                    "secrets: {stripe: {key: payments/stripe, env: {STRIPE_API_KEY: api_key}}}")
        else:
            hint = f"write {_types(err.validator_value)} here"
        return [doc.problem(path, f"expected {_types(err.validator_value)}, got {got}", hint)]
    if v == "pattern":
        pattern: Any = err.validator_value
        what = _PATTERNS.get(pattern, f"must match {pattern}")
        hint = ""
        if pattern == ENV_VALUE_PROPS["env"]["propertyNames"]["pattern"]:
            hint = "an environment variable name, such as LOG_LEVEL or _9LIVES"
        return [doc.problem(path, f"{_brief(inst)} is not valid: {what}", hint)]
    if v == "enum":
        allowed: Any = err.validator_value
        return [doc.problem(path, f"{_brief(inst)} is not one of {allowed}",
                            did_you_mean(str(inst), {str(x) for x in allowed}, "values"))]
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": "less than the minimum", "maximum": "greater than the maximum",
                "exclusiveMinimum": "less than or equal to the minimum",
                "exclusiveMaximum": "greater than or equal to the maximum"}[v]
        sch = err.schema
        hint = str(sch["x-hint"]) if isinstance(sch, dict) and sch.get("x-hint") else _range_hint(sch)
        return [doc.problem(path, f"{inst} is {word} of {err.validator_value}", hint)]
    if v == "maxLength":
        size = f" ({len(inst)})" if isinstance(inst, str) else ""
        return [doc.problem(path, f"{_brief(inst)} is longer than {err.validator_value} characters{size}")]
    if v == "minLength":
        return [doc.problem(path, "must not be empty")]
    if v == "minItems":
        return [doc.problem(path, f"needs at least {err.validator_value} item(s)",
                            "list at least one, or remove the key")]
    if v == "uniqueItems":
        return [doc.problem(path, "lists an item more than once", "list each item once")]
    if v == "minProperties":
        return [doc.problem(path, f"needs at least {err.validator_value} entry")]
    if v == "propertyNames":
        bad = inst if isinstance(inst, str) else ""
        parent = path
        return [doc.problem((*parent, bad), f"invalid name {_brief(bad)}", key=True)]
    return [doc.problem(path, err.message)]


_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("trusted", default=False)


@contextmanager
def _setting(var: contextvars.ContextVar[bool]) -> Iterator[None]:
    token = var.set(True)
    try:
        yield
    finally:
        var.reset(token)


def trusted() -> AbstractContextManager[None]:
    """Within it, :func:`check` passes every non-empty document without loading jsonschema: for files
    whose exact bytes passed before (the render index says so)."""
    return _setting(_TRUSTED)


_SHARED_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("shared_trusted", default=False)


def trusted_shared() -> AbstractContextManager[None]:
    """Within it, the inputs every service shares are known to have passed before (the render index says
    so): their costlier checks (the Crossplane files) are not made again; every other document still is."""
    return _setting(_SHARED_TRUSTED)


def shared_is_trusted() -> bool:
    """Whether the shared inputs are known to have passed before (see :func:`trusted`, :func:`trusted_shared`)."""
    return _TRUSTED.get() or _SHARED_TRUSTED.get()


def is_trusted() -> bool:
    """Whether the documents being checked are known to have passed before (see :func:`trusted`)."""
    return _TRUSTED.get()


_FAST: dict[int, tuple[dict[str, Any], Check | None]] = {}


def _fast(schema: dict[str, Any]) -> Check | None:
    """The compiled check of one of these schemas (see ``fastschema``), made once."""
    known = _FAST.get(id(schema))
    if known is None or known[0] is not schema:
        def no_refs(ref: str, base: str) -> tuple[dict[str, Any], str]:
            raise LookupError(ref)
        known = _FAST[id(schema)] = (schema, compile_schema(schema, no_refs))
    return known[1]


def check(doc: Located, schema: dict[str, Any]) -> list[Problem]:
    """Validate ``doc`` against ``schema``; every error becomes a located problem."""
    if doc.data is None:
        return [doc.problem((), "the file is empty")]
    if _TRUSTED.get():
        return []
    fast = _fast(schema)
    if fast is not None and fast(doc.data):
        return []  # surely valid: jsonschema would find nothing (and is not even loaded)
    from jsonschema import Draft202012Validator  # imported on first use: about a fifth of start-up

    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    for err in validator.iter_errors(doc.data):
        if err.validator == "propertyNames":
            # jsonschema reports the offending name as the instance and the parent's path
            bad = err.instance
            problems.append(
                doc.problem((*tuple(err.absolute_path), bad), f"invalid name {_brief(bad)}",
                            "use lower-case letters, digits and '-'", key=True)
            )
            continue
        problems.extend(_error_problems(doc, err))
    return problems
