"""Bad input: every problem at once, as file:line:col: key.path: message, and nothing written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from platform_gen.outputs import catalog

from .conftest import Run, edit, refused_untouched, snapshot

SVC = "platform-config/services/payment-service/config.yaml"




CASES = [
    pytest.param(SVC, "team: payments", "team: paymets",
                 f"{SVC}:2:7: error: team: unknown team 'paymets'\n  hint: did you mean 'payments'?",
                 id="unknown-team"),
    pytest.param(SVC, "team: payments", "team: finance",
                 f"{SVC}:2:7: error: team: unknown team 'finance'\n"
                 "  hint: valid teams (in platform-config/platform.yaml): data, identity, payments",
                 id="unknown-team-list"),
    pytest.param(SVC, "template: web-service", "template: web",
                 f"{SVC}:5:11: error: template: unknown template 'web'\n"
                 "  hint: valid templates (in platform-config/templates/): cron-job, static-site, web-service, worker",
                 id="unknown-template"),
    pytest.param(SVC, "replicas: 2", "replica: 2",
                 f"{SVC}:9:1: error: replica: unknown key 'replica'\n  hint: did you mean 'replicas'?",
                 id="unknown-key"),
    pytest.param(SVC, 'tag: "1.4.2"', "tag: 1.5",
                 f"{SVC}:7:6: error: tag: expected a string, got 1.5\n  hint: quote it: \"1.5\"",
                 id="tag-not-string"),
    # the hint quotes what was written, not what YAML made of it: "1.1" would deploy the wrong version
    pytest.param(SVC, 'tag: "1.4.2"', "tag: 1.10",
                 f"{SVC}:7:6: error: tag: expected a string, got 1.10 (read as the number 1.1)\n"
                 "  hint: quote it: \"1.10\"",
                 id="tag-1.10"),
    pytest.param(SVC, "  LOG_LEVEL: info", "  LOG_LEVEL: no",
                 f"{SVC}:14:14: error: env.LOG_LEVEL: expected a string or a number, got no (read as the boolean "
                 "false)\n  hint: quote it: \"no\"",
                 id="env-boolean"),
    pytest.param(SVC, 'version: "16"', "version: 16",
                 f"{SVC}:34:42: error: infrastructure[0].parameters.version: expected a string, got 16\n"
                 "  hint: quote it: \"16\"; see the PostgreSQLInstance XRD in "
                 "platform-config/crossplane/postgresqlinstance/definition.yaml\n1 problem found",
                 id="xrd-parameter-number"),
    pytest.param(SVC, "  LOG_LEVEL: info", "\tLOG_LEVEL: info",
                 f"{SVC}:14:1: error: invalid YAML: a tab character (found character that cannot start any "
                 "token)\n  hint: YAML indents with spaces only; replace the tab with spaces",
                 id="tab"),
    pytest.param(SVC, "  LOG_LEVEL: info", "  9LIVES: x",
                 f"{SVC}:14:3: error: env: '9LIVES' is not valid: letters, digits, '_', '.' and '-', not starting "
                 "with a digit\n  hint: an environment variable name, such as LOG_LEVEL or _9LIVES",
                 id="env-name"),
    # what YAML 1.1 makes of unquoted numbers is refused where it differs from what was written
    pytest.param(SVC, "  LOG_LEVEL: info", "  BACKUP_TIME: 12:30",
                 f"{SVC}:14:16: error: env.BACKUP_TIME: 12:30 is read as the number 750\n"
                 "  hint: quote it to keep it as written: \"12:30\"",
                 id="env-sexagesimal"),
    pytest.param(SVC, "  LOG_LEVEL: info", "  ZIP: 01234",
                 f"{SVC}:14:8: error: env.ZIP: 01234 is read as the number 668\n"
                 "  hint: quote it to keep it as written: \"01234\"",
                 id="env-octal"),
    pytest.param(SVC, "  LOG_LEVEL: info", "  RATIO: 1.50",
                 f"{SVC}:14:10: error: env.RATIO: 1.50 is read as the number 1.5\n"
                 "  hint: quote it to keep it as written: \"1.50\"",
                 id="env-float"),
    pytest.param(SVC, "replicas: 2", "replicas: 1:30",
                 f"{SVC}:9:11: error: replicas: 1:30 is read as the number 90\n"
                 "  hint: write 90, or quote it (\"1:30\") if you mean the text",
                 id="replicas-sexagesimal"),
    pytest.param(SVC, "team: payments\n", "team: payments\nretire: yes\n",
                 f"{SVC}:3:9: error: retire: yes is read as true\n"
                 "  hint: write true, or quote it (\"yes\") if you mean the text",
                 id="boolean-yes"),
    pytest.param(SVC, "port: 8080", "port: 80800",
                 f"{SVC}:8:7: error: port: 80800 is greater than the maximum of 65535",
                 id="port-range"),
    pytest.param(SVC, "  staging: {}", "  stagin: {}",
                 f"{SVC}:20:3: error: environments.stagin: unknown environment 'stagin'\n"
                 "  hint: did you mean 'staging'?",
                 id="unknown-env"),
    pytest.param(SVC, "      prod-us:", "      prod-ap:",
                 f"{SVC}:24:7: error: environments.prod.clusters.prod-ap: unknown cluster 'prod-ap' in "
                 "environment 'prod'\n  hint: did you mean 'prod-us'?",
                 id="unknown-cluster"),
    pytest.param(SVC, "    replicas: 3", "    port: 9090",
                 f"{SVC}:22:5: error: environments.prod.port: unknown key 'port'\n"
                 "  hint: port shapes the base manifests, so it can be set only in platform defaults or at "
                 "the top level of a service's config.yaml",
                 id="base-only-key-per-env"),
    pytest.param(SVC, "name: payment-service", "name: payments-service",
                 f"{SVC}:1:7: error: name: name 'payments-service' does not match its folder 'payment-service'\n"
                 "  hint: set name: payment-service, or rename the folder",
                 id="name-mismatch"),
    pytest.param(SVC, "image: ghcr.io/acme/payment-service\n", "",
                 f"{SVC}:1:1: error: missing required key 'image'",
                 id="missing-required"),
    pytest.param(SVC, "  LOG_LEVEL: info", "  LOG_LEVEL: info\n  LOG_LEVEL: debug",
                 f"{SVC}:15:3: error: env.LOG_LEVEL: duplicate key\n  hint: first given on line 14",
                 id="duplicate-key"),
    pytest.param(SVC, "tier: tier-1", "tier: [tier-1",
                 f"{SVC}:5:9: error: invalid YAML: did not find expected ',' or ']'\n"
                 "  hint: check indentation and quoting",
                 id="yaml-syntax"),
    pytest.param("environments/prod.yaml", "name: prod-eu", "name: staging-1",
                 "environments/staging.yaml:5:11: error: clusters[0].name: cluster name 'staging-1' is not "
                 "unique\n  hint: also defined in environments/prod.yaml; cluster names are unique across "
                 "environments",
                 id="cluster-not-unique"),
    pytest.param("environments/prod.yaml", "name: prod\n", "name: production\n",
                 "environments/prod.yaml:2:7: error: name: name 'production' does not match the file name\n"
                 "  hint: rename the file to environments/production.yaml or set name: prod",
                 id="env-name-mismatch"),
    # team guardrails (README "Team guardrails")
    pytest.param(SVC, "allowFrom: [event-ingest]", "allowFrom: [event-ingets]",
                 f"{SVC}:45:13: error: allowFrom[0]: allowFrom names service 'event-ingets', which does not exist\n"
                 "  hint: did you mean 'event-ingest'?",
                 id="allow-from-unknown"),
    pytest.param("platform-config/platform.yaml", 'requests.cpu: "8"', 'requests.cpu: "8 cores"',
                 "platform-config/platform.yaml:41:25: error: namespaceDefaults.quota.requests.cpu: '8 cores' is "
                 "not valid: a Kubernetes quantity such as 250m, 0.5, 512Mi or 2Gi",
                 id="quota-not-a-quantity"),
    pytest.param("platform-config/platform.yaml", "max: {memory: 4Gi}", "max: {memory: 64Mi}",
                 "platform-config/platform.yaml:45:19: error: namespaceDefaults.limitRange.max.memory: "
                 "limitRange.max.memory (64Mi) is below limitRange.default.memory (256Mi) for team 'data'\n"
                 "  hint: Kubernetes rejects the LimitRange: keep min <= defaultRequest <= default <= max",
                 id="limit-range-order"),
    pytest.param("platform-config/platform.yaml", "  podSecurity: restricted", "  podSecurity: strict",
                 "platform-config/platform.yaml:40:16: error: namespaceDefaults.podSecurity: ",
                 id="pod-security-level"),
    # the scorecard's checks and levels (README "Scorecards")
    pytest.param("platform-config/platform.yaml", "    gold: [slo, alerts]", "    gold: [slo, alert]",
                 "platform-config/platform.yaml:53:17: error: scorecard.levels.gold[1]: 'alert' is not one of "
                 "['owner', 'probes', 'limits', 'secrets', 'replicas', 'pinned-image', 'dashboard', 'slo', 'alerts', "
                 "'docs']\n  hint: did you mean 'alerts'?",
                 id="scorecard-unknown-check"),
    pytest.param("platform-config/platform.yaml", ", alerts, docs]", ", docs]",
                 "platform-config/platform.yaml:53:17: error: scorecard.levels.gold[1]: level 'gold' requires check "
                 "'alerts', which scorecard.checks does not measure\n"
                 "  hint: add alerts to scorecard.checks, or take it out of the level",
                 id="scorecard-level-check-not-measured"),
    pytest.param("platform-config/platform.yaml", "    gold: [slo, alerts]", "    gold: [slo, alerts, limits]",
                 "platform-config/platform.yaml:53:25: error: scorecard.levels.gold[2]: check 'limits' is already "
                 "required by level 'bronze'\n"
                 "  hint: a level requires the checks of the levels below it too: list each check once",
                 id="scorecard-check-in-two-levels"),
    pytest.param("platform-config/platform.yaml", "  maxReplicas: 10", "  maxReplicas: 4",
                 f"{SVC}:25:19: error: replicas: replicas (5) exceeds autoscaling.maxReplicas (4) for "
                 "payment-service in prod/prod-us".replace(":25:19:", ":25:"),
                 id="merged-value-rule"),
]


@pytest.mark.parametrize(("rel", "old", "new", "expected"), CASES)
def test_bad_input_is_reported_and_nothing_written(
    rendered_once: Path, run: Run, rel: str, old: str, new: str, expected: str
) -> None:
    refused_untouched(rendered_once, run, rel, old, new, expected)


def test_all_problems_are_reported_at_once_sorted(rendered_once: Path, run: Run) -> None:
    root = rendered_once
    edit(root, SVC, "team: payments", "team: paymets")
    edit(root, SVC, "port: 8080", "port: 0")
    edit(root, "platform-config/services/auth-service/config.yaml", "template: web-service", "template: nope")
    code, _out, err = run("render", "--root", root)
    assert code == 1
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert lines == [
        "platform-config/services/auth-service/config.yaml:5:11: error: template: unknown template 'nope'",
        f"{SVC}:2:7: error: team: unknown team 'paymets'",
        f"{SVC}:8:7: error: port: 0 is less than the minimum of 1",
    ]
    assert err.endswith("3 problems found; nothing was written.\n")


def test_problems_as_json(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, SVC, "team: payments", "team: paymets")
    code, out, _err = run("render", "--root", rendered_once, "--format", "json")
    assert code == 1
    assert json.loads(out) == {"status": "invalid", "problems": [{
        "file": SVC, "line": 2, "column": 7, "path": "team", "message": "unknown team 'paymets'",
        "hint": "did you mean 'payments'?"}]}


def test_template_error_points_at_template_line(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "platform-config/templates/web-service/service.yaml.j2",
         "      port: 80\n", "      port: {{ values.servicePort }}\n")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("platform-config/templates/web-service/service.yaml.j2:13: error: undefined value: "
            "'dict object' has no attribute 'servicePort'\n  hint: while rendering service 'auth-service'") in err


def test_jsonnet_error_points_at_template_line(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "platform-config/templates/worker/main.jsonnet", "v.image + ':' + v.tag", "v.imag")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert "platform-config/templates/worker/main.jsonnet:10: error: jsonnet: RUNTIME ERROR: Field does not " \
        "exist: imag" in err


WORKER_JSONNET = "platform-config/templates/worker/main.jsonnet"


def test_a_missing_jsonnet_import_is_named_at_its_line_the_same_every_time(rendered_once: Path, run: Run) -> None:
    """go-jsonnet's binding hands an import callback's message on without its end; the message is told from
    what platform-gen knows, so it is the same on every run, and not garbled."""
    edit(rendered_once, WORKER_JSONNET, "local v = ctx.values;\n",
         "local v = ctx.values;\nlocal missing = import '_nothere.libsonnet';\n")
    edit(rendered_once, WORKER_JSONNET, "name: 'app',", "name: 'app' + missing.suffix,")
    before = snapshot(rendered_once / "rendered")
    errs = set()
    for _ in range(3):
        code, _out, err = run("render", "--root", rendered_once)
        assert code == 1
        errs.add(err)
    assert len(errs) == 1
    assert (f"{WORKER_JSONNET}:6: error: jsonnet: RUNTIME ERROR: import not found in template 'worker': "
            "_nothere.libsonnet\n  hint: while rendering service 'event-ingest'\n") in err
    assert snapshot(rendered_once / "rendered") == before


DIRTY_IMPORTS = """
import ctypes
from platform_gen.renderers import jsonnet
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
libc.malloc_usable_size.restype = ctypes.c_size_t
served = jsonnet._Importer.__call__
def dirty(self, base, rel):
    # free blocks of the size of the message about to be refused, filled with bytes that are not UTF-8: the
    # binding's copy of the message (made without its end) lands in one, so what follows it is read too
    size = len(f"import not found in template '{self.template}': {rel}".encode())
    blocks = [libc.malloc(size) for _ in range(8)]
    for block in blocks:
        ctypes.memset(block, 0x8C, libc.malloc_usable_size(block))
    for block in blocks:
        libc.free(block)
    return served(self, base, rel)
jsonnet._Importer.__call__ = dirty
"""


def test_a_missing_jsonnet_import_fails_cleanly_whatever_follows_its_message(tmp_path: Path) -> None:
    """go-jsonnet's binding reads past the end of a failed import's message (see above). When what follows it is
    not UTF-8, the binding raises UnicodeDecodeError: that is the same template failure, not a crash. Memory
    made so, in a fresh process (go-jsonnet's Go runtime cannot be loaded in the test process, which forks)."""
    code = DIRTY_IMPORTS + (
        "from platform_gen.renderers import TemplateFailure\n"
        "jsonnet.start()\n"
        "files = {'main.jsonnet': 'function(ctx)\\nlocal m = import \"sub/d\u00e4\u00f6-library.libsonnet\";\\n"
        "{ kind: m.k }\\n'}\n"
        "seen = set()\n"
        "for _ in range(20):\n"
        "    try:\n"
        "        jsonnet.render_many('worker', files, 'main.jsonnet', [{}, {}])\n"
        "    except TemplateFailure as exc:\n"
        "        seen.add((exc.file, exc.line, exc.message))\n"
        "    try:\n"
        "        jsonnet.render_many('worker', files, 'main.jsonnet', [{}])\n"
        "    except TemplateFailure as exc:\n"
        "        seen.add((exc.file, exc.line, exc.message))\n"
        "print(repr(sorted(seen)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(sorted([
        ("main.jsonnet", 0, "jsonnet: the template failed for one of its services"),
        ("main.jsonnet", 2, "jsonnet: RUNTIME ERROR: import not found in template 'worker': "
                            "sub/d\u00e4\u00f6-library.libsonnet")]))


def test_a_go_runtime_loads_once_a_process_and_tells_why_it_cannot() -> None:
    """go-jsonnet and Helm's library load through ``GoRuntime``: once per process, ``first`` run once after
    loading; a module its parent process loaded already (a Go runtime does not survive a fork) and one that
    does not load are recorded, and told by each render, not raised."""
    from platform_gen.renderers import GoRuntime, InheritedRuntime

    calls: list[object] = []
    runtime = GoRuntime("json", "json", calls.append)  # (loaded by this process already)
    assert isinstance(runtime.loaded(), InheritedRuntime) and calls == []
    assert "json was loaded before the template worker was forked" in str(runtime.loaded())
    fresh = GoRuntime("platform_gen_no_such_runtime", "nothing", calls.append)
    assert isinstance(fresh.loaded(), ModuleNotFoundError) and calls == []
    sys.modules.pop("colorsys", None)
    loads = GoRuntime("colorsys", "colorsys", calls.append)
    loads.start()
    loads.start()
    assert loads.loaded() is sys.modules["colorsys"] and calls == [sys.modules["colorsys"]]


def test_jsonnet_in_a_process_that_loaded_go_jsonnet_itself_is_a_template_failure(tmp_path: Path) -> None:
    """A render in a process forked from one that had loaded go-jsonnet: a message at the template, not a hang."""
    code = ("import os, _gojsonnet\n"
            "from platform_gen.renderers import TemplateFailure, jsonnet\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    try:\n"
            "        jsonnet.render_many('worker', {'main.jsonnet': 'function(ctx) {}'}, 'main.jsonnet', [{}])\n"
            "        os._exit(3)\n"
            "    except TemplateFailure as exc:\n"
            "        print(exc.file, exc.line, exc.message, exc.hint, flush=True)\n"
            "        os._exit(0)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "print(os.waitstatus_to_exitcode(status))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "main.jsonnet 0 jsonnet: the interpreter could not be loaded (go-jsonnet was loaded before the template "
        "worker was forked) run platform-gen in a process that has not imported _gojsonnet itself", "0"]


def test_a_failed_jsonnet_import_whose_report_is_lost_is_placed_at_its_literal() -> None:
    """Some Pythons raise an empty RuntimeError when the message jsonnet hands on is not UTF-8: the import is
    then placed at the first file of the importing folder that names its path."""
    from platform_gen.renderers import jsonnet

    importer = jsonnet._Importer("worker", {
        "main.jsonnet": "function(ctx)\nlocal lib = import 'lib/a.libsonnet';\nlib\n",
        "lib/a.libsonnet": "// a.libsonnet\n{\n  text: importstr @'notes.txt',\n}\n"})
    with pytest.raises(RuntimeError):
        importer("lib", "notes.txt")
    failure = jsonnet._failure("main.jsonnet", RuntimeError(""), importer)
    assert (failure.file, failure.line, failure.message) == (  # type: ignore[attr-defined]
        "lib/a.libsonnet", 3, "jsonnet: RUNTIME ERROR: import not found in template 'worker': notes.txt")
    assert importer.place("", "elsewhere.libsonnet") is None


def test_a_jsonnet_error_in_a_library_points_into_the_library(rendered_once: Path, run: Run) -> None:
    (rendered_once / "platform-config/templates/worker/_lib.libsonnet").write_text(
        "{\n  suffix(v)::\n    v.nope,\n}\n", encoding="utf-8")
    edit(rendered_once, WORKER_JSONNET, "local v = ctx.values;\n",
         "local v = ctx.values;\nlocal lib = import '_lib.libsonnet';\n")
    edit(rendered_once, WORKER_JSONNET, "name: 'app',", "name: 'app' + lib.suffix(v),")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert ("platform-config/templates/worker/_lib.libsonnet:3: error: jsonnet: RUNTIME ERROR: Field does not "
            "exist: nope\n  hint: while rendering service 'event-ingest'\n") in err


def test_a_jsonnet_template_that_is_not_a_function_is_refused(rendered_once: Path, run: Run) -> None:
    """Given the context as an argument, jsonnet ignores it when the file is a value, not a function: such a
    template would render the same objects for every service. The run of all its services refuses it at
    once, before any service is evaluated alone (which would pass)."""
    edit(rendered_once, WORKER_JSONNET, "function(ctx)\n",
         "local ctx = { service: { name: 'fixed' }, values: { image: 'x', tag: 'y', port: 8080 } };\n")
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert (f"{WORKER_JSONNET}:1: error: a jsonnet template must be a function of the context: function(ctx) ..."
            in err)
    assert snapshot(rendered_once / "rendered") == before


@pytest.mark.parametrize(("entry", "line", "message", "hint"), [
    ("function(ctx, extra)\n", 3, "jsonnet: RUNTIME ERROR: Missing argument: extra",
     "a jsonnet template is function(ctx) ...: one parameter, named ctx, given the service's context"),
    ("local helper = function(x) x;\nfunction(ctx)\n'a text' + std.toString(helper(1)) + ", 4,
     "jsonnet output must be an object or a list of objects, got a string",
     "the entry's function returns the service's objects: { kind: ..., ... }, a list of them, or an object of "
     "them by name"),
])
def test_a_jsonnet_entry_that_takes_or_returns_the_wrong_thing_is_told_at_its_function(
        rendered_once: Path, run: Run, entry: str, line: int, message: str, hint: str) -> None:
    """The entry's function is called with the context and must return objects: otherwise the failure is placed
    at the line of that function, with what a template must be."""
    text = (rendered_once / WORKER_JSONNET).read_text()
    if "'a text'" in entry:  # the whole body is the text: nothing of the original function is left
        (rendered_once / WORKER_JSONNET).write_text(text[:text.index("function(ctx)\n")] + entry + "'!'\n")
    else:
        edit(rendered_once, WORKER_JSONNET, "function(ctx)\n", entry)
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert f"{WORKER_JSONNET}:{line}: error: {message}\n  hint: {hint}; while rendering service " in err
    assert snapshot(rendered_once / "rendered") == before


@pytest.mark.parametrize(("text", "line"), [
    ("function(ctx) {}", 1),
    ("// a function(x) in a comment\n/* function(y)\n */\nfunction(ctx) {}", 4),
    ("# function\nlocal f = function(x) x, g = { h: function(y) y };\nlocal s = 'function(z)';\n\n"
     "function(ctx)\n{}", 5),
    ("local t = |||\n  function(q)\n|||;\nlocal v = @'function(''x'')';\nfunction (ctx) {}", 5),
    ("{ f: function(x) x }", 0),
    ("local lib = import 'lib.libsonnet';\nlib.make", 0),
])
def test_the_line_of_an_entry_files_own_function(text: str, line: int) -> None:
    from platform_gen.renderers import jsonnet

    assert jsonnet._function_line(text) == line


@pytest.mark.parametrize(("message", "file", "line"), [
    ("RUNTIME ERROR: x\n\tmain.jsonnet:10:5-9\tobject <anonymous>", "main.jsonnet", 10),
    ("RUNTIME ERROR: x\n\tmain.jsonnet:(6:56)-(76:2)\tobject <anonymous>", "main.jsonnet", 6),
    ("RUNTIME ERROR: x\n\tstd.jsonnet:3:1\t\n\t_lib.libsonnet:4:2-3\t\n\tmain.jsonnet:9:1", "_lib.libsonnet", 4),
    ("main.jsonnet:47:31-32 Unexpected: \",\" while parsing field definition", "main.jsonnet", 47),
    ("RUNTIME ERROR: x", "main.jsonnet", 0),
])
def test_a_jsonnet_failure_is_placed_at_the_first_file_of_the_template_in_its_trace(message: str, file: str,
                                                                                     line: int) -> None:
    from platform_gen.renderers import jsonnet

    importer = jsonnet._Importer("worker", {"main.jsonnet": "", "_lib.libsonnet": ""})
    failure = jsonnet._failure("main.jsonnet", RuntimeError(message), importer)
    assert (failure.file, failure.line) == (file, line)  # type: ignore[attr-defined]


def test_missing_platform_file(tmp_path: Path, run: Run) -> None:
    code, _out, err = run("render", "--root", tmp_path)
    assert code == 1
    assert "platform-config/platform.yaml: error: file not found\n  hint: run platform-gen from the " \
        "platform repo's root or pass --root" in err
    assert not (tmp_path / "rendered").exists()


def test_usage_error_exits_2(run: Run) -> None:
    code, _out, _err = run("render", "--no-such-flag")
    assert code == 2


def test_a_duplicate_order_is_reported_at_both_files(rendered_once: Path, run: Run) -> None:
    staging = (rendered_once / "environments/staging.yaml").read_text()
    (rendered_once / "environments/qa.yaml").write_text(
        staging.replace("name: staging", "name: qa").replace("staging-1", "qa-1"))
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == ("environments/qa.yaml:3:8: error: order: order 1 is also used by environment 'staging'\n"
                   "  hint: each environment needs its own promotion order\n"
                   "environments/staging.yaml:3:8: error: order: order 1 is also used by environment 'qa'\n"
                   "  hint: each environment needs its own promotion order\n"
                   "2 problems found; nothing was written.\n")


def test_a_template_no_service_uses_is_still_checked(rendered_once: Path, run: Run) -> None:
    before = snapshot(rendered_once / "rendered")
    web = rendered_once / "platform-config/templates/web-service"
    spare = rendered_once / "platform-config/templates/spare"
    spare.mkdir()
    for path in web.iterdir():
        (spare / path.name).write_text(path.read_text())
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err  # a good unused template renders nothing into the tree
    after = snapshot(rendered_once / "rendered")  # but the index records that it was checked, as every template
    assert sorted(json.loads(after[".platform-gen.index.json"][0])["samples"]) == \
        ["cron-job", "spare", "static-site", "web-service", "worker"]
    # (and the Backstage Template offers it as a golden path: README "Creating a service from Backstage")
    # the Backstage Template offers it, and its skeleton writes its starter values
    offered = ".platform-gen.index.json", "catalog/scaffolder/template.yaml", catalog.SKELETON
    assert b"        - spare\n" in after[offered[1]][0] and b"- spare\n" not in before[offered[1]][0]
    assert b'values.template == "spare"' in after[offered[2]][0]
    assert {k: v for k, v in after.items() if k not in offered} == \
        {k: v for k, v in before.items() if k not in offered}
    before = after
    edit(rendered_once, "platform-config/templates/spare/deployment.yaml.j2", "values.replicas", "values.replica")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == ("platform-config/templates/spare/deployment.yaml.j2:13: error: undefined value: 'dict object' "
                   "has no attribute 'replica'\n"
                   "  hint: while rendering a sample service (the values of "
                   "platform-config/templates/spare/starter.yaml over the platform defaults; "
                   "every template is checked, used or not)\n"
                   "1 problem found; nothing was written.\n")
    assert snapshot(rendered_once / "rendered") == before


def test_a_broken_environment_file_is_one_problem_not_one_per_service(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, "environments/prod.yaml", "order: 2", "order: 2\nbogus: 1")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == ("environments/prod.yaml:4:1: error: bogus: unknown key 'bogus'\n"
                   "  hint: valid keys: capabilities, clusters, defaults, name, order, promotion, protected, sync\n"
                   "1 problem found; nothing was written.\n")



#: Schema problems of payment-service's config.yaml (old, new, expected): each carries a hint.
HINTED = [
    ("replicas: 2", "replicas: 5000",
     f"{SVC}:9:11: error: replicas: 5000 is greater than the maximum of 1000\n  hint: allowed: 0 to 1000\n"),
    ("  LOG_LEVEL: info", "  LOG_LEVEL: ~",
     f"{SVC}:14:14: error: env.LOG_LEVEL: expected a string or a number, got nothing\n"
     "  hint: give it a value (a string or a number), or remove the key\n"),
    ("    replicas: 3\n", "    replicas: 3\n    onlyClusters: []\n",
     f"{SVC}:23:19: error: environments.prod.onlyClusters: needs at least 1 item(s)\n"
     "  hint: list at least one, or remove the key\n"),
    ("    replicas: 3\n", "    replicas: 3\n    onlyClusters: [prod-us, prod-us]\n",
     f"{SVC}:23:19: error: environments.prod.onlyClusters: lists an item more than once\n"
     "  hint: list each item once\n"),
]


@pytest.mark.parametrize(("old", "new", "expected"), HINTED)
def test_schema_errors_carry_a_hint(rendered_once: Path, run: Run, old: str, new: str, expected: str) -> None:
    edit(rendered_once, SVC, old, new)
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith(expected), err


def test_including_another_templates_file_says_why(rendered_once: Path, run: Run) -> None:
    tpl = "platform-config/templates/web-service/deployment.yaml.j2"
    edit(rendered_once, tpl, '{% include "_pod.j2" %}', '{% include "../worker/main.jsonnet" %}')
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith(f"{tpl}:25: error: cannot include '../worker/main.jsonnet': a template includes only "
                          "files of its own folder\n"), err


RESOLVE = ("  hint: resolve the merge conflict: keep the lines you want and delete the <<<<<<<, ======= and >>>>>>> "
           "lines (git: edit the file, then 'git add' it)\n")


@pytest.mark.parametrize(("rel", "old", "new", "expected"), [
    # a conflict inside a mapping names the key it sits under; its line is the '<<<<<<<' marker's
    pytest.param(SVC, "    replicas: 3\n", "<<<<<<< HEAD\n    replicas: 3\n=======\n    replicas: 4\n>>>>>>> feature\n",
                 f"{SVC}:22:1: error: environments.prod: unresolved merge conflict: the file holds both sides of "
                 "a merge (lines 22-26, from '<<<<<<<' to '>>>>>>>')\n", id="config"),
    pytest.param("platform-config/platform.yaml", "organization: acme\n",
                 "<<<<<<< ours\norganization: acme\n=======\norganization: acme-corp\n>>>>>>> theirs\n",
                 "platform-config/platform.yaml:3:1: error: unresolved merge conflict: the file holds both sides "
                 "of a merge (lines 3-7, from '<<<<<<<' to '>>>>>>>')\n", id="platform"),
    # half resolved: a marker left over is named too
    pytest.param("environments/dev.yaml", "order: 0\n", "order: 0\n>>>>>>> main\n",
                 "environments/dev.yaml:4:1: error: unresolved merge conflict: a leftover conflict marker "
                 "'>>>>>>>'\n", id="environment"),
])
def test_a_merge_conflict_is_named_at_its_marker(example: Path, run: Run, rel: str, old: str, new: str,
                                                 expected: str) -> None:
    edit(example, rel, old, new)
    code, out, err = run("render", "--root", example)
    assert (code, out) == (1, "")
    assert err == expected + RESOLVE + "1 problem found; nothing was written.\n"
    assert not (example / "rendered").exists()


@pytest.mark.parametrize(("image", "valid"), [
    ("ghcr.io/acme/app", True), ("registry:5000/team/app", True), ("localhost:5000/app", True), ("app", True),
    ("docker.io/library/nginx", True),
    # a tag or a digest belongs in `tag`: `:1` is no registry port where no '/' follows it
    ("ghcr.io/acme/app:1.2.3", False), ("app:1", False), ("localhost:5000", False),
    ("registry:5000/app:2", False), ("ghcr.io/acme/app@sha256:" + "0" * 64, False), ("registry:port/app", False),
])
def test_an_image_is_a_name_without_tag_or_digest(image: str, valid: bool) -> None:
    from platform_gen import schemas
    pattern = schemas.ENV_VALUE_PROPS["image"]["pattern"]
    assert (re.match(pattern, image) is not None) is valid
    # the Backstage form and the editor schema use it written for JavaScript: the same names pass there
    from platform_gen.outputs.editor import portable_pattern
    assert (re.match(portable_pattern(pattern), image) is not None) is valid
