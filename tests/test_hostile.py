"""Hostile input ends in a clear, located error (exit 1, nothing written), never a hang or a crash."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from platform_gen import limits, schemas, yamlio

from .conftest import Run, edit, snapshot

CFG = "platform-config/services/payment-service/config.yaml"
PLATFORM = "platform-config/platform.yaml"
DEV = "environments/dev.yaml"
XRD = "platform-config/crossplane/postgresqlinstance/definition.yaml"


def _refused(run: Run, root: Path, *expected: str) -> str:
    """Render fails with exit 1, writes nothing, and prints each expected line."""
    before = snapshot(root)
    code, _out, err = run("render", "--root", root)
    assert code == 1, err
    assert snapshot(root) == before
    assert not (root / "rendered").exists()
    for line in expected:
        assert line in err.splitlines(), err
    return err


# --- aliases, anchors, depth -----------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    lines = ["bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"bomb{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_in_a_config_is_refused_at_once(example: Path, run: Run) -> None:
    bomb = _alias_bomb(10)
    assert len(bomb) < 1100  # ten billion strings once expanded
    path = example / CFG
    n = len(path.read_text().splitlines())
    path.write_text(path.read_text() + bomb)
    err = _refused(run, example,
                   f"{CFG}:{n + 1}:8: error: bomb0: anchors (&name) are not supported",
                   f"{CFG}:{n + 2}:8: error: bomb1: anchors (&name) are not supported",
                   f"{CFG}:{n + 2}:13: error: bomb1[0]: aliases (*name) are not supported")
    assert "more anchors and aliases from here on; only the first 10 are listed" in err


@pytest.mark.parametrize("rel", [PLATFORM, DEV, XRD, CFG])
def test_anchors_and_aliases_are_refused_in_every_input(example: Path, run: Run, rel: str) -> None:
    path = example / rel
    text = path.read_text()
    lines = text.splitlines()
    path.write_text(text + "zz: &anchor {a: 1}\nzy: *anchor\n")
    n = len(lines)
    _refused(run, example, f"{rel}:{n + 1}:5: error: zz: anchors (&name) are not supported",
             f"{rel}:{n + 2}:5: error: zy: aliases (*name) are not supported")


def test_deep_nesting_is_refused_at_the_too_deep_node(example: Path, run: Run) -> None:
    path = example / CFG
    path.write_text(path.read_text() + "deep: " + "[" * 500 + "]" * 500 + "\n")
    line = len((example / CFG).read_text().splitlines())
    where = "deep" + "[0]" * 63
    _refused(run, example, f"{CFG}:{line}:70: error: {where}: nested more than 64 levels deep")


def test_depth_limit_is_exact() -> None:
    ok = "[" * limits.MAX_DEPTH + "]" * limits.MAX_DEPTH
    loc, problems = yamlio.load_located(ok, "f.yaml")
    assert problems == [] and loc is not None
    _loc, problems = yamlio.load_located("[" + ok + "]", "f.yaml")
    assert [p.message for p in problems] == ["nested more than 64 levels deep"]


# --- sizes -----------------------------------------------------------------------------


def test_input_file_over_one_mib_is_not_read(example: Path, run: Run) -> None:
    path = example / CFG
    path.write_text(path.read_text() + "# " + "x" * limits.MAX_FILE_BYTES + "\n")
    _refused(run, example, f"{CFG}: error: file is larger than the limit of 1 MiB")


@pytest.mark.parametrize("rel", ["platform-config/templates/web-service/service.yaml.j2",
                                 "overlays/prod/topology-spread.yaml"])
def test_templates_and_overlay_files_are_bounded_too(example: Path, run: Run, rel: str) -> None:
    path = example / rel
    path.write_bytes(path.read_bytes() + b"#" * limits.MAX_FILE_BYTES)
    _refused(run, example, f"{rel}: error: file is larger than the limit of 1 MiB")


def test_long_string_is_refused(example: Path, run: Run) -> None:
    edit(example, CFG, "  LOG_LEVEL: info", "  LOG_LEVEL: " + "x" * (limits.MAX_STRING + 1))
    _refused(run, example, f"{CFG}:14:14: error: env.LOG_LEVEL: string of 65537 characters is longer than the "
                           "limit of 65536")


def test_huge_description_is_refused_not_rendered_into_an_annotation(example: Path, run: Run) -> None:
    edit(example, CFG, "description: Handles all payment processing",
         "description: " + "d" * (limits.MAX_DESCRIPTION + 1))
    _refused(run, example,
             f"{CFG}:3:14: error: description: '" + "d" * 55 + "...' is longer than 1024 characters (1025)")


def test_team_description_is_bounded(example: Path, run: Run) -> None:
    edit(example, PLATFORM, "description: Payments and ledger", "description: " + "p" * 2000)
    _refused(run, example, f"{PLATFORM}:10:18: error: teams.payments.description: '" + "p" * 55
             + "...' is longer than 1024 characters (2000)")


def test_label_values_stay_valid_service_names_end_alphanumeric(example: Path, run: Run) -> None:
    svc = example / "platform-config/services"
    (svc / "payment-service").rename(svc / "payment-")
    edit(example, "platform-config/services/payment-/config.yaml", "name: payment-service", "name: payment-")
    _refused(run, example, "platform-config/services/payment-/config.yaml:1:7: error: name: 'payment-' is not "
                           "valid: lower-case letters, digits and '-', starting with a letter")


# --- patterns match the whole value ------------------------------------------------------


def _pattern_keys(schema: object, here: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path (with '*' for any name or index) whose string value a pattern validates."""
    out: list[tuple[str, ...]] = []
    if isinstance(schema, dict):
        if "pattern" in schema and here:
            out.append(here)
        for name, sub in (schema.get("properties") or {}).items():
            out.extend(_pattern_keys(sub, (*here, name)))
        for word in ("items", "additionalProperties"):
            out.extend(_pattern_keys(schema.get(word), (*here, "*")))
        if "pattern" in (schema.get("propertyNames") or {}):
            out.append((*here, "<name>"))
    return out


# A valid instance for each pattern-validated key, per schema: the test appends "\n".
_RES = {"cpu": "1", "memory": "1", "ephemeral-storage": "1"}
_VALUES = {"image": "i", "tag": "1", "env": {"K": "v"}, "resources": {"requests": _RES, "limits": _RES},
           "secrets": {"s": {"key": "k", "env": {"V": "p"}, "mount": "/m"}},
           "expose": {"http": {"path": "/", "host": "h.example.com"}},
           "slo": {"latency": {p: "1ms" for p in ("p50", "p90", "p95", "p99", "p999")}}, "allowFrom": ["a"],
           "schedule": "0 3 * * *", "timeZone": "Etc/UTC", "digest": "sha256:" + "0" * 64}
_METRICS = {"port": 9090, "path": "/metrics", "interval": "30s"}
_GATEWAY = {"name": "g", "namespace": "n", "domain": "d.io", "sectionName": "https"}
_CAPS = {"externalSecrets": {"store": "s", "refreshInterval": "1h"},
         "gateways": {"public": _GATEWAY, "internal": _GATEWAY},
         "prometheus": {"namespace": "m", "selector": {"release": "p"}},
         "grafana": {"dashboardLabel": "grafana_dashboard", "dashboardLabelValue": "1", "folder": "f"}}
_RES = {"cpu": "1", "memory": "1Mi", "ephemeral-storage": "1Gi"}
_GUARDRAILS = {"podSecurity": "baseline",
               "quota": {**{k: "1" for k in schemas.QUOTA_KEYS}, **{k: 1 for k in schemas.QUOTA_COUNTS}},
               "limitRange": {k: _RES for k in ("default", "defaultRequest", "min", "max")}}
_PLATFORM = {"organization": "acme", "gitops": {"repoURL": "https://x", "targetRevision": "main", "path": "out"},
             "argocd": {"namespace": "argocd"},
             "teams": {"a": {"namespace": "ns", "groups": ["g"], "codeowners": "@acme/a", "routing": "a-oncall",
                             "guardrails": _GUARDRAILS}},
             "namespaceDefaults": _GUARDRAILS,
             "codeowners": {"path": ".github/CODEOWNERS", "platform": "@acme/p"}, "reservedNamespaces": ["x"],
             "teamResources": [{"group": "apps", "kind": "Deployment"}],
             "defaults": {**_VALUES, "healthPath": "/h", "metrics": _METRICS},
             "scorecard": {"checks": ["owner", "slo"], "levels": {"bronze": ["owner"], "gold": ["slo"]}},
             "catalog": {"componentTypes": {"w": "service"}, "resourceTypes": {"K": "database"}}}
_ENV = {"name": "dev", "order": 0,
        "clusters": [{"name": "c", "server": "https://c", "values": _VALUES, "capabilities": _CAPS}],
        "defaults": _VALUES, "capabilities": _CAPS, "promotion": {"from": "qa", "soak": "24h", "requireDigest": True}}
_SERVICE = {"name": "s", "team": "t", "template": "w", **_VALUES, "tier": "t1", "system": "sys",
            "dependsOn": ["d"], "consumesApis": ["d.openapi"],
            "infrastructure": [{"kind": "K", "name": "db"}], "healthPath": "/h", "metrics": _METRICS,
            "environments": {"dev": {**_VALUES, "clusters": {"c": _VALUES}}}}
SCHEMAS = {"platform": (schemas.PLATFORM, _PLATFORM), "environment": (schemas.ENVIRONMENT, _ENV),
           "service": (schemas.SERVICE, _SERVICE)}
CASES = [(name, path) for name, (schema, _doc) in SCHEMAS.items() for path in _pattern_keys(schema)]


def _targets(doc: object, path: tuple[str, ...]) -> list[tuple[object, object]]:
    """(container, key) pairs that ``path`` reaches in ``doc`` ("*" is every entry)."""
    if not path:
        return []
    head, rest = path[0], path[1:]
    if head == "<name>":
        return [(doc, k) for k in (doc if isinstance(doc, dict) else [])][:1] and [(doc, "<name>")]
    keys = (list(doc) if isinstance(doc, dict) else range(len(doc)) if isinstance(doc, list) else []) \
        if head == "*" else ([head] if isinstance(doc, dict) and head in doc else [])
    out: list[tuple[object, object]] = []
    for k in keys:
        child = doc[k]  # type: ignore[index]
        out.extend([(doc, k)] if not rest else _targets(child, rest))
    return out


def test_every_pattern_key_is_covered() -> None:
    for name, path in CASES:
        schema_doc = SCHEMAS[name][1]
        assert _targets(schema_doc, path), f"no sample value for {name} {path}"


@pytest.mark.parametrize(("name", "path"), CASES, ids=[f"{n}:{'.'.join(p)}" for n, p in CASES])
def test_trailing_newline_fails_every_pattern(name: str, path: tuple[str, ...]) -> None:
    import copy

    schema, sample = SCHEMAS[name]
    text = yamlio.dump(sample)
    loc, problems = yamlio.load_located(text, "f.yaml")
    assert loc is not None and problems == []
    assert schemas.check(loc, schema) == []  # the sample itself is valid
    doc = copy.deepcopy(sample)
    for container, key in _targets(doc, path):
        if key == "<name>":
            assert isinstance(container, dict)
            first = next(iter(container))
            container[first + "\n"] = container.pop(first)
        else:
            container[key] = str(container[key]) + "\n"  # type: ignore[index]
    bad = yamlio.Located("f.yaml", doc, {}, {})
    found = schemas.check(bad, schema)
    assert found, f"{'.'.join(path)} accepts a trailing newline"


def test_tag_with_trailing_newline_is_refused(example: Path, run: Run) -> None:
    edit(example, CFG, 'tag: "1.4.2"', 'tag: "1.4.2\\n"')
    _refused(run, example, f"{CFG}:7:6: error: tag: '1.4.2\\n' is not valid: letters, digits, '_', '.' and '-', "
                           "not starting with '.' or '-'")


def test_xrd_patterns_end_at_the_end_of_the_text() -> None:
    from platform_gen import crdschema

    schema = crdschema.to_json_schema({"type": "string", "pattern": "^[a-z]+$"})
    assert crdschema.validate("abc", schema) == []
    # the message shows the pattern as the XRD wrote it, and never a whole long value
    assert crdschema.validate("abc\n", schema) == [((), "'abc\\n' does not match '^[a-z]+$'")]
    assert crdschema.validate("A" * 1000, schema) == [((), "'" + "A" * 56 + "... does not match '^[a-z]+$'")]
    assert crdschema.go_pattern(r"^a\$[$]$") == r"^a\$[$]\Z"


# --- control characters, encoding ----------------------------------------------------------


@pytest.mark.parametrize(("escape", "code"), [("\\x7f", "007F"), ("\\N", "0085"), ("\\x01", "0001"), ("\\r", "000D"),
                                              ("\\x9b", "009B"), ("\\e", "001B"), ("\\L", "2028")])
def test_control_characters_are_blamed_on_the_input(example: Path, run: Run, escape: str, code: str) -> None:
    edit(example, CFG, "description: Handles all payment processing", f'description: "Handles{escape}all"')
    _refused(run, example, f"{CFG}:3:14: error: description: control character U+{code} at character 8 is not "
                           "allowed")


def test_control_character_in_a_key_is_refused(example: Path, run: Run) -> None:
    edit(example, CFG, "  LOG_LEVEL: info", '  "LOG\\x85LEVEL": info')
    _refused(run, example, f"{CFG}:14:3: error: env: control character U+0085 at character 4 is not allowed")


def test_newline_and_tab_stay_legitimate_in_env_values(example: Path, run: Run) -> None:
    edit(example, CFG, "  LOG_LEVEL: info", '  LOG_LEVEL: "a\\tb\\nc\\n"')
    code, _out, err = run("render", "--root", example)
    assert code == 0, err


def test_invalid_utf8_is_located_at_the_first_bad_byte(example: Path, run: Run) -> None:
    path = example / CFG
    path.write_bytes(path.read_bytes().replace(b"Handles all", "Hé \xff".encode("latin-1") + b"all", 1))
    _refused(run, example, f"{CFG}:3:15: error: not valid UTF-8: byte 0xE9 cannot be decoded")


def test_invalid_utf8_in_a_template_is_located(example: Path, run: Run) -> None:
    rel = "platform-config/templates/web-service/service.yaml.j2"
    path = example / rel
    path.write_bytes(path.read_bytes() + b"ok\n  \xc3(\n")
    lines = path.read_bytes().count(b"\n")
    _refused(run, example, f"{rel}:{lines}:3: error: not valid UTF-8: byte 0xC3 cannot be decoded")


def test_invalid_timestamp_is_a_problem_not_a_crash(example: Path, run: Run) -> None:
    edit(example, CFG, "tier: tier-1", "tier: 2026-13-45")
    _refused(run, example, f"{CFG}:4:7: error: tier: invalid value: month must be in 1..12")


# --- .yaml beside .yml -------------------------------------------------------------------------


@pytest.mark.parametrize("rel", [DEV, CFG, PLATFORM, XRD])
def test_yaml_beside_yml_is_an_error(example: Path, run: Run, rel: str) -> None:
    (example / rel).with_suffix(".yml").write_text((example / rel).read_text())
    err = _refused(run, example, f"{rel[:-5]}.yml: error: both {Path(rel).name} and {Path(rel).stem}.yml exist")
    if rel == DEV:  # the only problem: the services that run in dev are not told it does not exist
        assert err.endswith("1 problem found; nothing was written.\n"), err


# --- links out of the repo ----------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret.yaml"
    path.parent.mkdir()
    path.write_text("name: TOP-SECRET-CONTENT\n")
    return path


@pytest.mark.parametrize("rel", [CFG, DEV, PLATFORM, "platform-config/templates/web-service/service.yaml.j2",
                                 "overlays/prod/topology-spread.yaml", XRD])
def test_link_out_of_the_repo_is_refused_and_not_read(example: Path, run: Run, secret: Path, rel: str) -> None:
    (example / rel).unlink()
    (example / rel).symlink_to(secret)
    err = _refused(run, example, f"{rel}: error: symbolic link to a location outside the repo; not read")
    assert "TOP-SECRET" not in err


@pytest.mark.parametrize("rel", ["platform-config/services/payment-service", "platform-config/templates/worker",
                                 "overlays/prod", "platform-config/templates/web-service/more"])
def test_linked_folder_out_of_the_repo_is_refused(example: Path, run: Run, secret: Path, rel: str) -> None:
    folder = example / rel
    if folder.exists():
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()
    (secret.parent / "config.yaml").write_text("TOP-SECRET: [\n")
    (secret.parent / "main.jsonnet").write_text("TOP-SECRET")
    folder.symlink_to(secret.parent, target_is_directory=True)
    err = _refused(run, example, f"{rel}: error: symbolic link to a location outside the repo; not read")
    assert "TOP-SECRET" not in err


def test_link_inside_the_repo_is_followed(example: Path, run: Run) -> None:
    path = example / CFG
    copy = example / "platform-config/payment.yaml"
    copy.write_text(path.read_text())
    path.unlink()
    path.symlink_to(Path("../../payment.yaml"))
    code, _out, err = run("render", "--root", example)
    assert code == 0, err


def test_unreadable_outside_link_is_never_opened(example: Path, run: Run, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would block: the link must not be followed
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    (example / CFG).unlink()
    (example / CFG).symlink_to(fifo)
    _refused(run, example, f"{CFG}: error: symbolic link to a location outside the repo; not read")


# --- validate's kustomize ---------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["true", "silent", "garbage", "scalars"])
def test_kustomize_that_builds_nothing_is_a_finding(rendered_once: Path, run: Run, tmp_path: Path, tool: str) -> None:
    if tool == "true":
        path = "/bin/true"
        if not Path(path).is_file():
            pytest.skip("no /bin/true")
    else:
        script = tmp_path / f"{tool}.sh"
        body = {"silent": "", "garbage": "echo '{{{ not: [yaml'", "scalars": "echo '- a'; echo '- b'"}[tool]
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
        path = str(script)
    code, _out, err = run("validate", "--root", rendered_once, "--kustomize", path)
    assert code == 1, err
    name = Path(path).name
    expected = {"true": f"{name} build built no objects", "silent": f"{name} build built no objects",
                "garbage": f"{name} build printed output that is not YAML",
                "scalars": f"{name} build printed output that is not Kubernetes objects"}[tool]
    overlay = "rendered/services/payment-service/overlays/prod/prod-us/kustomization.yaml"
    assert any(line.startswith(f"{overlay}: error: {expected}") for line in err.splitlines()), err


# --- YAML that templates and tools produce --------------------------------------------------------

SERVICE_TPL = "platform-config/templates/web-service/service.yaml.j2"


@pytest.mark.parametrize(("snippet", "message"), [
    ("  bad: 2026-13-45\n", "invalid value: month must be in 1..12"),
    ("  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "  c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases (*name) are not supported"),
])
def test_template_output_that_cannot_be_loaded_is_an_input_error(example: Path, run: Run, snippet: str,
                                                                  message: str) -> None:
    path = example / SERVICE_TPL
    text = path.read_text()
    path.write_text(text.replace("metadata:\n", "metadata:\n" + snippet, 1))
    err = _refused(run, example)
    assert message in err and SERVICE_TPL in err, err


def test_tree_files_edited_into_garbage_are_findings(rendered_once: Path, run: Run) -> None:
    with (rendered_once / "rendered/argocd/platform.yaml").open("a") as fh:
        fh.write("a: [\n")
    (rendered_once / "rendered/platform/crossplane/functions.yaml").write_text("- x\n")
    code, _out, err = run("validate", "--root", rendered_once)
    assert code == 1, err
    lines = err.splitlines()
    assert any(line.startswith("rendered/argocd/platform.yaml: error: the file is not YAML (") for line in lines), err
    assert "rendered/platform/crossplane/functions.yaml: error: the file is not Kubernetes objects" in lines, err


def test_explicit_tags_with_bad_values_are_problems() -> None:
    _loc, problems = yamlio.load_located("a: !!timestamp x\nb: !!int x\nc: !!bool q\n", "f.yaml")
    assert [str(p) for p in problems] == [
        "f.yaml:1:4: a: invalid value: not a valid timestamp",
        "f.yaml:2:4: b: invalid value: invalid literal for int() with base 10: 'x'",
        "f.yaml:3:4: c: invalid value: not a valid bool"]


@pytest.mark.parametrize("kind", ["-.inf", "null", "[a]"])
def test_template_rendering_a_non_string_kind_is_an_input_error(example: Path, run: Run, kind: str) -> None:
    rel = "platform-config/templates/web-service/autoscaling.yaml.j2"
    edit(example, rel, "kind: HorizontalPodAutoscaler", f"kind: {kind}")
    err = _refused(run, example)
    assert f"{rel}: error: [0]: rendered document 1 for service 'auth-service' is not a Kubernetes object" \
        in err.splitlines(), err


def test_link_to_a_fifo_inside_the_repo_is_not_opened(example: Path, run: Run) -> None:
    fifo = example / "platform-config/fifo"
    os.mkfifo(fifo)
    (example / CFG).unlink()
    (example / CFG).symlink_to(Path("../../fifo"))
    _refused(run, example, f"{CFG}: error: not a regular file")


@pytest.mark.parametrize("rel", ["platform-config/templates/worker/main.jsonnet",
                                 "platform-config/templates/web-service/service.yaml.j2"])
def test_nul_in_a_template_is_located_not_a_crash(example: Path, run: Run, rel: str) -> None:
    path = example / rel
    path.write_text("\n" + "ab\x00" + path.read_text())
    _refused(run, example, f"{rel}:2:3: error: control character U+0000 is not allowed in a template")


# --- the repo's yamllint config is an input too -------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [
    (None, ".yamllint.yaml: error: symbolic link to a location outside the repo; not read"),
    ("extends: ../outside/secret.yaml\n", ".yamllint.yaml:1:10: error: extends: only the built-in configs "
                                          "'default' and 'relaxed' may be extended"),
    ("ignore-from-file: ../outside/secret.yaml\n", ".yamllint.yaml:1:1: error: ignore-from-file: "
                                                   "ignore-from-file is not supported"),
    ("a: &a [x, x]\nb: [*a, *a]\n", ".yamllint.yaml:2:5: error: b[0]: aliases (*name) are not supported"),
])
def test_yamllint_config_is_read_like_any_input(rendered_once: Path, run: Run, secret: Path, content: str | None,
                                                expected: str) -> None:
    config = rendered_once / ".yamllint.yaml"
    if content is None:
        config.symlink_to(secret)
    else:
        config.write_text(content)
    code, _out, err = run("validate", "--root", rendered_once)
    assert code == 1, err
    assert expected in err.splitlines(), err
    assert "TOP-SECRET" not in err


def test_integers_are_bounded_to_64_bits(example: Path, run: Run) -> None:
    edit(example, DEV, "order: 0", "order: 0x" + "f" * 5000)
    _refused(run, example, f"{DEV}:3:8: error: order: invalid value: integer outside the 64-bit range")
    with pytest.raises(yaml.YAMLError, match="integer outside the 64-bit range"):
        yamlio.safe_load_all("a: 0x1" + "0" * 16 + "\n")


@pytest.mark.parametrize("rel", [CFG, DEV, "platform-config/templates/web-service/service.yaml.j2"])
def test_link_loop_is_refused_not_a_crash(example: Path, run: Run, rel: str) -> None:
    (example / rel).unlink()
    (example / rel).symlink_to(Path(rel).name)
    _refused(run, example, f"{rel}: error: symbolic link that loops; not read")


def test_echoed_input_cannot_forge_lines_of_the_report(example: Path, run: Run) -> None:
    edit(example, CFG, "team: payments", 'team: "x\\nplatform-config/platform.yaml:1:1: error: forged\\e[31m"')
    err = _refused(run, example)
    assert not any(line.startswith("platform-config/platform.yaml:1:1") for line in err.splitlines()), err
    assert "\x1b" not in err
    assert (f"{CFG}:2:7: error: team: unknown team 'x\\nplatform-config/platform.yaml:1:1: error: forged\\x1b[31m'"
            in err.splitlines()), err


# --- overlay components are inputs too ------------------------------------------------------------


def test_an_overlay_file_is_held_to_the_input_rules(example: Path, run: Run) -> None:
    spread = example / "overlays/prod/topology-spread.yaml"
    good = spread.read_bytes()
    spread.write_bytes(good + b"# \xff\n")
    line = good.count(b"\n") + 1
    _refused(run, example, f"overlays/prod/topology-spread.yaml:{line}:3: error: not valid UTF-8: byte 0xFF "
                           "cannot be decoded")
    spread.write_bytes(good + b"extra: &a [1]\nmore: *a\n")
    _refused(run, example, f"overlays/prod/topology-spread.yaml:{line}:8: error: extra: anchors (&name) are not "
                           "supported")
    spread.write_bytes(good + b"a: [\n")
    code, _out, err = run("render", "--root", example)
    assert code == 1 and "overlays/prod/topology-spread.yaml:" in err and "invalid YAML" in err


def test_validate_reports_a_tree_file_that_is_not_utf8(rendered_once: Path, run: Run) -> None:
    path = rendered_once / "rendered/argocd/projects/data.yaml"
    path.write_bytes(path.read_bytes() + b"# \xff\n")
    code, _out, err = run("validate", "--root", rendered_once)
    assert code == 1, err
    line = path.read_bytes().count(b"\n")
    assert (f"rendered/argocd/projects/data.yaml:{line}:3: error: not valid UTF-8: byte 0xFF cannot be decoded\n"
            "  hint: run 'platform-gen render' to restore it\n") in err
    assert "internal error" not in err


@pytest.mark.parametrize(("char", "code"), [("\x1b", "001B"), ("\x7f", "007F"), ("\x85", "0085"),
                                            ("\u2028", "2028"), ("\x01", "0001")])
def test_a_raw_control_character_is_located(example: Path, run: Run, char: str, code: str) -> None:
    # YAML's reader stops at it without a position, or takes NEL and U+2028 for line breaks
    edit(example, CFG, "tier: tier-1", f"tier: tier{char}-1")
    _refused(run, example, f"{CFG}:4:11: error: control character U+{code} is not allowed")


def test_crlf_line_endings_are_fine(example: Path, run: Run) -> None:
    path = example / CFG
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    code, _out, err = run("render", "--root", example)
    assert code == 0, err


def test_links_and_odd_files_among_services_and_overlays_are_reported(example: Path, run: Run) -> None:
    services = example / "platform-config/services"
    (services / "loop").symlink_to("loop")
    (services / "dangling").symlink_to("nowhere")
    (services / "fifo").mkdir()
    os.mkfifo(services / "fifo/config.yaml")
    (example / "overlays/loop").symlink_to("loop")
    _refused(run, example,
             "platform-config/services/dangling: error: symbolic link to nothing; not read",
             "platform-config/services/fifo/config.yaml: error: not a regular file",
             "platform-config/services/loop: error: symbolic link that loops; not read",
             "overlays/loop: error: symbolic link that loops; not read")


def test_an_invalid_value_is_one_problem_not_two(example: Path, run: Run) -> None:
    edit(example, CFG, "  LOG_LEVEL: info", "  D: 2026-13-45")
    err = _refused(run, example, f"{CFG}:14:6: error: env.D: invalid value: month must be in 1..12")
    assert err.endswith("1 problem found; nothing was written.\n"), err


def test_validate_locates_a_control_character_in_a_tree_file(rendered_once: Path, run: Run) -> None:
    path = rendered_once / "rendered/services/auth-service/base/deployment.yaml"
    lines = path.read_bytes().count(b"\n")
    path.write_bytes(path.read_bytes() + b"# a\x1bb\n")
    code, _out, err = run("validate", "--root", rendered_once)
    assert code == 1  # kustomize refuses the file: every overlay of the service says so
    overlay = "rendered/services/auth-service/overlays/prod/prod-us/kustomization.yaml"
    assert f"{overlay}: error: kustomize build failed" in err
    code, _out, err = run("validate", "--root", rendered_once, "--lint-tree")  # yamllint locates it
    assert code == 1
    assert (f"rendered/services/auth-service/base/deployment.yaml:{lines + 1}:4: error: invalid YAML: unacceptable "
            "character #x001b: special characters are not allowed\n  hint: run 'platform-gen render' to restore "
            "it\n") in err
    assert "yamllint config" not in err


def test_odd_entries_in_overlays_are_reported_not_skipped(example: Path, run: Run) -> None:
    prod = example / "overlays/prod"
    (example / "overlays/staging").symlink_to("nothere")
    (prod / "extra.yaml").symlink_to("nothere")
    os.mkfifo(prod / "pipe.yaml")
    (prod / "sub").mkdir()
    (prod / "sub/cfg").symlink_to("../../../platform-config", target_is_directory=True)
    _refused(run, example,
             "overlays/prod/extra.yaml: error: symbolic link to nothing; not read",
             "overlays/prod/pipe.yaml: error: not a regular file; not read",
             "overlays/prod/sub/cfg: error: symbolic link to a folder; not read",
             "overlays/staging: error: symbolic link to nothing; not read")
