"""What the schemas of the runtime kinds cannot say: checks across the objects one overlay builds.

- PromQL: every ``spec.groups[].rules[].expr`` of a PrometheusRule must parse (``promql-parser``, the
  Rust parser of GreptimeTeam's promql-parser; the Prometheus Operator's schema types ``expr`` as any
  string or integer);
- recording rules: a metric named like a recording rule (``level:metric:operations``: its name holds a
  ``:``) that an ``expr`` reads must be recorded (``record``) by a PrometheusRule of the same overlay;
  an ``expr`` longer, deeper or with more operators than :mod:`limits` allows is reported, not parsed;
- monitors select their targets: a ServiceMonitor's ``spec.selector`` must match the labels of a Service
  of the same overlay, in the namespaces its ``namespaceSelector`` chooses (by default its own), and each
  ``spec.endpoints[].port`` must name a port of such a Service; a PodMonitor's selector must match the
  pod template labels of a Deployment, StatefulSet, DaemonSet, CronJob or Job of the overlay, and each
  ``podMetricsEndpoints[].port`` must name a port of one of their containers (init containers included).
  Selectors are Kubernetes label selectors: ``matchLabels`` and ``matchExpressions`` with ``In``,
  ``NotIn``, ``Exists`` and ``DoesNotExist`` (any other operator is a finding); an empty selector
  matches every candidate. Endpoints given by ``targetPort`` or ``portNumber`` instead of ``port`` are not
  checked.

Pure: the objects of one overlay in, findings out. Objects their schema refuses are skipped where a
field has the wrong shape (their schema finding says why).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import promql_parser

from .limits import MAX_PROMQL_CHARS, MAX_PROMQL_DEPTH, MAX_PROMQL_OPERATORS
from .workloads import pod_template

__all__ = ["Finding", "overlay_findings", "referenced_metrics"]

#: The object, the key path in it, and the message.
Finding = tuple[Mapping[str, Any], str, str]

_PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")
_SERVICE_MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
_POD_MONITOR = ("monitoring.coreos.com/v1", "PodMonitor")
_WORKLOADS = frozenset({("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
                        ("batch/v1", "CronJob"), ("batch/v1", "Job")})
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_OPERATOR_CHARS = frozenset("+-*/%^=!<>")
_WORD_OPERATOR = re.compile(r"(?:and|or|unless|atan2)(?![A-Za-z0-9_:])")


def overlay_findings(objs: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Every finding of these checks over the objects one overlay builds."""
    rules = [o for o in objs if _type(o) == _PROMETHEUS_RULE]
    findings = _rule_findings(rules)
    services = [o for o in objs if _type(o) == ("v1", "Service")]
    workloads = [o for o in objs if _type(o) in _WORKLOADS]
    for obj in objs:
        if _type(obj) == _SERVICE_MONITOR:
            findings.extend(_monitor_findings(obj, services, _SERVICES))
        elif _type(obj) == _POD_MONITOR:
            findings.extend(_monitor_findings(obj, workloads, _PODS))
    return findings


def _type(obj: Mapping[str, Any]) -> tuple[Any, Any]:
    return obj.get("apiVersion"), obj.get("kind")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- PrometheusRule ----------------------------------------------------------------------


def referenced_metrics(expr: Any) -> set[str]:
    """The metric names a parsed PromQL expression reads (by name or by a ``__name__="..."`` matcher).

    A walk of its own: ``promql_parser.walk`` takes seconds on an expression a few hundred operators deep.
    """
    found: set[str] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.add(node.name)
            matchers = [*node.matchers.matchers, *(m for group in node.matchers.or_matchers for m in group)]
            found.update(m.value for m in matchers if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal)
        elif isinstance(node, promql_parser.MatrixSelector):
            stack.append(node.vector_selector)
        elif isinstance(node, promql_parser.BinaryExpr):
            stack += [node.lhs, node.rhs]
        elif isinstance(node, promql_parser.AggregateExpr):
            stack += [node.expr] if node.param is None else [node.expr, node.param]
        elif isinstance(node, promql_parser.Call):
            stack += list(node.args)
        elif isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr, promql_parser.SubqueryExpr)):
            stack.append(node.expr)
    return found


def _too_complex(text: str) -> str | None:
    """Why an expression is beyond what is parsed, if it is (the Rust parser's time grows faster than the
    expression, and it overflows its stack some thousands of levels deep, killing the process)."""
    if len(text) > MAX_PROMQL_CHARS:
        return f"longer than {MAX_PROMQL_CHARS} characters"
    depth = deepest = operators = 0
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote != "`":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "#":  # a comment, to the end of the line
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
        elif char in _OPERATOR_CHARS or (char.isalpha() and _WORD_OPERATOR.match(text, i)
                                         and (i == 0 or not _word_char(text[i - 1]))):
            operators += 1
        i += 1
    if deepest > MAX_PROMQL_DEPTH:
        return f"nested more than {MAX_PROMQL_DEPTH} levels deep"
    if operators > MAX_PROMQL_OPERATORS:
        return f"more than {MAX_PROMQL_OPERATORS} operators"
    return None


def _word_char(char: str) -> bool:
    return char.isalnum() or char in "_:"


def _parse(text: str) -> tuple[Any, str]:
    """The expression, or None and why it is not one."""
    beyond = _too_complex(text)
    if beyond is not None:
        return None, f"PromQL not parsed: {beyond}"
    try:
        return promql_parser.parse(text), ""
    except ValueError as exc:
        return None, f"invalid PromQL: {exc}"
    except BaseException as exc:  # a panic in the Rust parser is a BaseException (pyo3's PanicException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
            raise
        return None, f"PromQL not parsed: the parser failed ({type(exc).__name__}: {exc})"


def _rules(obj: Mapping[str, Any]) -> Iterable[tuple[int, int, Mapping[str, Any]]]:
    for i, group in enumerate(_list(_mapping(obj.get("spec")).get("groups"))):
        for j, rule in enumerate(_list(_mapping(group).get("rules"))):
            if isinstance(rule, Mapping):
                yield i, j, rule


def _rule_name(rule: Mapping[str, Any]) -> str:
    for key in ("alert", "record"):
        if isinstance(rule.get(key), str):
            return f"{key} '{rule[key]}'"
    return "rule"


def _rule_findings(rules: Sequence[Mapping[str, Any]]) -> list[Finding]:
    recorded = {r["record"] for obj in rules for _i, _j, r in _rules(obj) if isinstance(r.get("record"), str)}
    findings: list[Finding] = []
    for obj in rules:
        for i, j, rule in _rules(obj):
            expr = rule.get("expr")
            if isinstance(expr, bool) or not isinstance(expr, (str, int)):
                continue  # missing or of the wrong type: the schema says so
            where = f"spec.groups[{i}].rules[{j}].expr"
            parsed, error = _parse(str(expr))
            if parsed is None:
                findings.append((obj, where, f"{_rule_name(rule)}: {error}"))
                continue
            for metric in sorted(m for m in referenced_metrics(parsed) if ":" in m and m not in recorded):
                findings.append((obj, where, f"{_rule_name(rule)}: unknown recording rule '{metric}': "
                                             "no PrometheusRule of this overlay records it"))
    return findings


# --- ServiceMonitor, PodMonitor ----------------------------------------------------------


@dataclass(frozen=True)
class _Monitor:
    """What one kind of monitor selects, and how its findings name it."""

    targets: Callable[[Mapping[str, Any]], tuple[Mapping[str, Any], list[str]]]  #: labels, port names
    endpoints: str  #: the key of its endpoint list under ``spec``
    target: str  #: what it selects
    selected: str
    port: str


def _service_targets(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """A Service's labels and port names."""
    ports = _list(_mapping(obj.get("spec")).get("ports"))
    return _labels(_mapping(obj.get("metadata"))), _port_names(ports)


def _workload_targets(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """A workload's pod template labels and container port names (a CronJob's pod template is its job
    template's)."""
    template = _mapping(pod_template(obj))
    pod = _mapping(template.get("spec"))
    ports = [p for key in ("containers", "initContainers") for c in _list(pod.get(key))
             for p in _list(_mapping(c).get("ports"))]
    return _labels(_mapping(template.get("metadata"))), _port_names(ports)


_SERVICES = _Monitor(_service_targets, "endpoints", "Service", "Service(s)", "port")
_PODS = _Monitor(_workload_targets, "podMetricsEndpoints",
                 "Deployment, StatefulSet, DaemonSet, CronJob or Job pod template", "workload(s)", "container port")


def _labels(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(meta.get("labels"))


def _port_names(ports: Iterable[Any]) -> list[str]:
    return sorted({p["name"] for p in ports if isinstance(p, Mapping) and isinstance(p.get("name"), str)})


def _namespace(obj: Mapping[str, Any]) -> str:
    return str(_mapping(obj.get("metadata")).get("namespace") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str(_mapping(obj.get("metadata")).get("name"))


def _monitor_findings(monitor: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]], kind: _Monitor
                      ) -> list[Finding]:
    spec = _mapping(monitor.get("spec"))
    selector = spec.get("selector")
    if not isinstance(selector, Mapping):
        return []  # the schema requires it
    invalid = _invalid_selector(selector)
    if invalid:
        return [(monitor, path, message) for path, message in invalid]
    ns_selector = _mapping(spec.get("namespaceSelector"))
    own = _namespace(monitor)
    namespaces: set[str] | None
    if ns_selector.get("any") is True:
        namespaces, where = None, "in any namespace"
    elif isinstance(ns_selector.get("matchNames"), list):
        namespaces = {str(n) for n in ns_selector["matchNames"]}
        where = f"in namespace(s) {', '.join(sorted(namespaces))}" if namespaces else "in no namespace"
    else:
        namespaces, where = {own}, f"in namespace {own}" if own else "without a namespace"
    there = [(c, *kind.targets(c)) for c in candidates if namespaces is None or _namespace(c) in namespaces]
    selected = [(c, names) for c, labels, names in there if _selects(selector, labels)]
    if not selected:
        keys = _selector_keys(selector)
        seen = "; ".join(sorted(f"{_name(c)} has {_shown_labels(labels, keys)}" for c, labels, _n in there))
        return [(monitor, "spec.selector", f"selects no {kind.target} of this overlay {where}: "
                                           f"{_describe(selector)}, but " + (seen or f"there is no {kind.target}"))]
    findings: list[Finding] = []
    for i, endpoint in enumerate(_list(spec.get(kind.endpoints))):
        port = _mapping(endpoint).get("port")
        if not isinstance(port, str) or any(port in names for _c, names in selected):
            continue
        have = "; ".join(f"{_name(c)}: {', '.join(names) or 'none'}" for c, names in selected)
        findings.append((monitor, f"spec.{kind.endpoints}[{i}].port",
                         f"'{port}' is not the name of a {kind.port} of the {kind.selected} it selects ({have})"))
    return findings


def _invalid_selector(selector: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for k, expr in enumerate(_list(selector.get("matchExpressions"))):
        operator = _mapping(expr).get("operator")
        if operator not in _OPERATORS:
            out.append((f"spec.selector.matchExpressions[{k}].operator",
                        f"{operator!r} is not a label selector operator ({', '.join(_OPERATORS)})"))
    return out


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a Kubernetes label selector (operators checked already) matches ``labels``."""
    for key, value in _mapping(selector.get("matchLabels")).items():
        if key not in labels or str(labels[key]) != str(value):
            return False
    for expr in _list(selector.get("matchExpressions")):
        req = _mapping(expr)
        name, operator = str(req.get("key")), req.get("operator")
        values = {str(v) for v in _list(req.get("values"))}
        present = name in labels
        if operator == "In" and not (present and str(labels[name]) in values):
            return False
        if operator == "NotIn" and present and str(labels[name]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _selector_keys(selector: Mapping[str, Any]) -> list[str]:
    keys = [str(k) for k in _mapping(selector.get("matchLabels"))]
    keys += [str(_mapping(e).get("key")) for e in _list(selector.get("matchExpressions"))]
    return list(dict.fromkeys(keys))


def _shown_labels(labels: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The values ``labels`` has for the selector's keys: what a reader compares with the selector."""
    if not keys:
        return "no labels" if not labels else "labels"
    return ", ".join(f"{k}={labels[k]}" if k in labels else f"no {k}" for k in keys)


def _describe(selector: Mapping[str, Any]) -> str:
    """A selector as ``kubectl -l`` writes it: ``app=web,tier in (a,b),!legacy``."""
    parts = [f"{k}={v}" for k, v in _mapping(selector.get("matchLabels")).items()]
    for expr in _list(selector.get("matchExpressions")):
        req = _mapping(expr)
        key, operator = req.get("key"), req.get("operator")
        values = ",".join(str(v) for v in _list(req.get("values")))
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": f"{key}", "DoesNotExist": f"!{key}"}[str(operator)])
    return "the selector " + ",".join(parts) if parts else "the empty selector"


