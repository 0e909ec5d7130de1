"""Templates run under a time and memory budget, and a jsonnet template sees only its own service's context.

Every case renders the example platform with real jinja2 and real jsonnet in the
budgeted worker; small budgets set in platform.yaml keep the runaway cases fast.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import example as case
from hypothesis import strategies as st

from platform_gen.errors import InputError
from platform_gen.load import load
from platform_gen.model import TemplateBudget
from platform_gen.render import render
from platform_gen.renderers import Renderer, TemplateFailure, worker
from platform_gen.validate import validate

from .conftest import REPO, Run, edit, snapshot, tree

PLATFORM = "platform-config/platform.yaml"
SVC_J2 = "platform-config/templates/web-service/service.yaml.j2"
WORKER = "platform-config/templates/worker/main.jsonnet"
TIME_HINT = ("  hint: look for a loop or recursion that does not end or runs too long; the budget is "
             "limits.templateSeconds in platform-config/platform.yaml")
MEMORY_HINT = ("  hint: look for a loop, fold or recursion that builds ever larger values; the budget is "
               "limits.templateMemoryMiB in platform-config/platform.yaml")

# 10^5 x 10^5 iterations: jinja's sandbox caps a range at 10^5 items but not the loops around it
JINJA_LOOP = "{%- for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
# a string that doubles 40 times (a TiB), without producing any output on the way
JINJA_GROW = ("{%- set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
              "{% endfor %}\n")
# a fold building a string of 10^7 x 32 bytes (and its intermediate copies)
JSONNET_GROW = ("std.length(std.foldl(function(acc, i) acc + 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', "
                "std.range(1, 10000000), '')) > 0")
# tail recursion in constant memory that would take days
JSONNET_SPIN = ("local spin(n, acc) = if n == 0 then acc else spin(n - 1, acc + 1) tailstrict;\n"
                "spin(1000000000000, 0) > 0")


def limits(root: Path, seconds: float = 30, memory_mib: int = 2048) -> None:
    with (root / PLATFORM).open("a") as f:
        f.write(f"limits:\n  templateSeconds: {seconds}\n  templateMemoryMiB: {memory_mib}\n")


def in_jinja(root: Path, code: str, service: str | None = None) -> None:
    """Put ``code`` at the top of the web-service's Service template, for one service or all."""
    if service is not None:
        code = f"{{%- if service.name == {service!r} %}}{code.rstrip()}{{% endif %}}\n"
    edit(root, SVC_J2, "apiVersion: v1\n", code + "apiVersion: v1\n")


def in_jsonnet(root: Path, condition: str, service: str | None = None) -> None:
    """Assert ``condition`` at the top of the worker template's function, for one service or all."""
    if service is not None:
        condition = f"ctx.service.name != {service!r} || ({condition})"
    edit(root, WORKER, "local svc = ctx.service;\n", f"local svc = ctx.service;\nassert {condition};\n")


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(("platform-config/", "  hint:"))]


def test_default_budget(example: Path) -> None:
    assert validate(load(example)).budget == TemplateBudget(seconds=30.0, memory_mib=2048)
    limits(example, seconds=1.5, memory_mib=300)
    assert validate(load(example)).budget == TemplateBudget(seconds=1.5, memory_mib=300)


#: Bad ``limits`` appended to platform.yaml (text, the first line of the report).
BAD_LIMITS = [
    ("limits:\n  templateSeconds: 0\n",
     f"{PLATFORM}:55:20: error: limits.templateSeconds: 0 is less than or equal to the minimum of 0"),
    ("limits:\n  templateSeconds: 7200\n",
     f"{PLATFORM}:55:20: error: limits.templateSeconds: 7200 is greater than the maximum of 3600"),
    ("limits:\n  templateMemoryMiB: 16\n",
     f"{PLATFORM}:55:22: error: limits.templateMemoryMiB: 16 is less than the minimum of 64"),
    ("limits:\n  templateMemoryMiB: 100.5\n",
     f"{PLATFORM}:55:22: error: limits.templateMemoryMiB: expected an integer, got 100.5"),
    ("limits:\n  templateSeconds: .nan\n",
     f"{PLATFORM}:55:20: error: limits.templateSeconds: expected a number of seconds, got .nan"),
    ("limits:\n  templateSecond: 5\n",
     f"{PLATFORM}:55:3: error: limits.templateSecond: unknown key 'templateSecond'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_LIMITS)
def test_limits_are_validated(example: Path, run: Run, text: str, message: str) -> None:
    with (example / PLATFORM).open("a") as f:
        f.write(text)
    code, _out, err = run("validate", "--root", example)
    assert code == 1
    assert err.splitlines()[0] == message


def test_jinja_nested_loops_exceed_the_time_budget(example: Path, run: Run) -> None:
    limits(example, seconds=1)
    in_jinja(example, JINJA_LOOP)
    start = time.monotonic()
    code, _out, err = run("render", "--root", example)
    assert time.monotonic() - start < 15
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/web-service/service.yaml.j2: error: the template exceeded the time budget "
        "of 1 s while rendering service 'auth-service'", TIME_HINT]
    assert not (example / "rendered").exists()


def test_the_time_budget_names_the_service_and_keeps_the_others(example: Path, run: Run) -> None:
    # payment-service loops; auth-service, before it, renders; user-profile, after it, is not reached
    limits(example, seconds=1)
    in_jinja(example, JINJA_LOOP, service="payment-service")
    in_jinja(example, "{{ values.nope }}", service="auth-service")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/web-service/service.yaml.j2: error: the template exceeded the time budget "
        "of 1 s while rendering service 'payment-service'", TIME_HINT,
        "platform-config/templates/web-service/service.yaml.j2:2: error: undefined value: 'dict object' has no "
        "attribute 'nope'", "  hint: while rendering service 'auth-service'"]


def test_jinja_growing_string_exceeds_the_memory_budget(example: Path, run: Run) -> None:
    limits(example, seconds=20, memory_mib=128)
    in_jinja(example, JINJA_GROW, service="user-profile")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/web-service/service.yaml.j2: error: the template exceeded the memory budget "
        "of 128 MiB while rendering service 'user-profile'", MEMORY_HINT]


def test_jsonnet_fold_exceeds_the_memory_budget(example: Path, run: Run) -> None:
    limits(example, seconds=20, memory_mib=128)
    in_jsonnet(example, JSONNET_GROW)
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/worker/main.jsonnet: error: the template exceeded the memory budget "
        "of 128 MiB while rendering service 'event-ingest'", MEMORY_HINT]


def test_jsonnet_memory_bomb_in_one_service_is_located(example: Path, run: Run) -> None:
    # the batch of all three services runs out first; the services are then rendered one by one
    limits(example, seconds=20, memory_mib=128)
    in_jsonnet(example, JSONNET_GROW, service="report-builder")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/worker/main.jsonnet: error: the template exceeded the memory budget "
        "of 128 MiB while rendering service 'report-builder'", MEMORY_HINT]


def test_jsonnet_endless_recursion_exceeds_the_time_budget(example: Path, run: Run) -> None:
    limits(example, seconds=1)
    in_jsonnet(example, JSONNET_SPIN, service="ledger-worker")
    start = time.monotonic()
    code, _out, err = run("render", "--root", example)
    # the batch spends one budget, ledger-worker alone another
    assert time.monotonic() - start < 15
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/worker/main.jsonnet: error: the template exceeded the time budget "
        "of 1 s while rendering service 'ledger-worker'", TIME_HINT]


def test_memory_budget_is_relative_to_a_big_parent(example: Path) -> None:
    # 2 GiB more address space in this process (mapped, never touched): a cap of 64 MiB
    # counted from zero, or from before the mapping, would leave the worker nothing
    with mmap.mmap(-1, 2 << 30):
        limits(example, memory_mib=64)
        files = render(validate(load(example))).files
    # byte-identical to the committed example tree (but for the index: platform.yaml's limits changed)
    index = ".platform-gen.index.json"
    assert {k: v for k, v in files.items() if k != index} == \
        {k: v for k, v in tree(REPO / "rendered").items() if k != index}


@pytest.mark.parametrize("name", ["ctxs", "ctx", "anything"])
def test_jsonnet_ext_vars_are_not_available(example: Path, run: Run, name: str) -> None:
    edit(example, WORKER, "local svc = ctx.service;\n", f"local svc = std.extVar('{name}')[0].service;\n")
    before = snapshot(example)
    code, _out, err = run("render", "--root", example)
    assert code == 1
    # the same problem for each of the three services, reported once
    assert errors(err) == [
        f"platform-config/templates/worker/main.jsonnet:4: error: jsonnet: RUNTIME ERROR: Undefined external "
        f"variable: {name} (a template sees only its service's context, as its argument: function(ctx) ...)",
        "  hint: while rendering service 'event-ingest'"]
    assert snapshot(example) == before


def test_jsonnet_sees_only_its_own_service(example: Path) -> None:
    # the template writes everything it can see into an annotation of its Deployment
    edit(example, WORKER, "local svc = ctx.service;\n",
         "local svc = ctx.service;\nlocal seen = std.manifestJsonMinified(ctx);\n")
    edit(example, WORKER, "metadata: { name: svc.name, labels: labels } + (",
         "metadata: { name: svc.name, labels: labels, annotations: { seen: seen } } + (")
    edit(example, WORKER, "then { annotations: {", "then { annotations+: {")
    platform = validate(load(example))
    files = render(platform).files
    workers = sorted(s.name for s in platform.services if s.template == "worker")
    assert len(workers) == 3
    for name in workers:
        text = files[f"services/{name}/base/deployment.yaml"].decode()
        deployment = yaml.safe_load(text)
        seen = json.loads(deployment["metadata"]["annotations"]["seen"])
        assert seen["service"]["name"] == name
        assert seen["values"]["image"].endswith(name)
        assert not any(other in text for other in workers if other != name), name


# --- the worker itself, with small renderers written for the purpose ---------------------------


def _behave(template: str, files: dict[str, str], entry: str, contexts: Sequence[dict[str, Any]]) -> list[list[Any]]:
    out = []
    for ctx in contexts:
        if ctx["do"] == "fail":
            raise TemplateFailure(entry, ctx["i"], f"failed {ctx['i']}")
        if ctx["do"] == "spin":
            while True:
                pass
        if ctx["do"] == "grow":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if ctx["do"] == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if ctx["do"] == "bug":
            raise ValueError("not a template problem")
        out.append([{"i": ctx["i"]}])
    return out


SMALL = TemplateBudget(seconds=0.5, memory_mib=64)
# a "grow" context reaches 64 MiB in milliseconds, but a fork of the test process on a loaded
# machine has taken longer than half a second: the property gives time its own clear margin
ROOMY = TemplateBudget(seconds=2, memory_mib=64)


@settings(max_examples=10, deadline=None)
@given(plans=st.lists(st.tuples(st.lists(st.sampled_from(["ok", "ok", "ok", "fail", "grow", "spin"]), max_size=4),
                                st.booleans()), min_size=1, max_size=3))
def test_worker_stops_each_job_at_its_first_context_over_budget(plans: list[tuple[list[str], bool]]) -> None:
    jobs = [worker.Job(Renderer("test", ".test", _behave, batched=batched), "t", {}, "e",
                       [{"i": i, "do": do} for i, do in enumerate(plan)]) for plan, batched in plans]
    outcomes = worker.render(jobs, ROOMY)
    assert len(outcomes) == len(plans)
    for (plan, _batched), outcome in zip(plans, outcomes, strict=True):
        stop = next((i for i, do in enumerate(plan) if do in ("spin", "grow")), None)
        # all results if none stopped, else only the failures before the one that stopped
        expected = {i for i, do in enumerate(plan) if stop is None or (i < stop and do == "fail")}
        assert set(outcome.results) == expected
        for i, result in outcome.results.items():
            if plan[i] == "fail":
                assert isinstance(result, TemplateFailure)
                assert (result.file, result.line, result.message) == ("e", i, f"failed {i}")
            else:
                assert result == [{"i": i}]
        assert outcome.stopped == (None if stop is None else "time" if plan[stop] == "spin" else "memory")
        assert outcome.at == (0 if stop is None else stop)


def test_files_after_a_stopped_one_are_rendered(example: Path, run: Run) -> None:
    # web-service's service.yaml.j2 runs out of time; worker/main.jsonnet, rendered after it, still reports
    limits(example, seconds=1)
    in_jinja(example, JINJA_LOOP, service="user-profile")
    edit(example, WORKER, "v.image + ':' + v.tag", "v.imag")
    code, _out, err = run("render", "--root", example)
    assert code == 1
    assert errors(err) == [
        "platform-config/templates/web-service/service.yaml.j2: error: the template exceeded the time budget "
        "of 1 s while rendering service 'user-profile'", TIME_HINT,
        "platform-config/templates/worker/main.jsonnet:10: error: jsonnet: RUNTIME ERROR: Field does not exist: "
        "imag", "  hint: while rendering service 'event-ingest'"]


def test_worker_reports_a_crash() -> None:
    renderer = Renderer("test", ".test", _behave)
    outcome, = worker.render([worker.Job(renderer, "t", {}, "e", [{"i": 0, "do": "ok"}, {"i": 1, "do": "crash"}])],
                             SMALL)
    assert outcome == worker.Outcome({}, "crash", 1, "killed by SIGSEGV")


def test_a_spare_worker_compiles_templates_ahead_and_renders_them_as_any_worker() -> None:
    """A spare worker compiles the templates it is given while it waits for its jobs; one that does not compile
    is left to its render, which tells its line; a job of a template it did not compile is rendered too."""
    from platform_gen.renderers import REGISTRY

    jinja = next(r for r in REGISTRY if r.name == "jinja2")
    good = {"a.yaml.j2": "kind: A\nname: {{ name }}\n", "_part.j2": "x: 1\n"}
    broken = {"b.yaml.j2": "kind: B\n{% if %}\n"}
    later = {"c.yaml.j2": "kind: C\n"}
    before = worker.spares_used
    with worker.session(True, None, [broken, good]):
        outcomes = worker.render([worker.Job(jinja, "good", good, "a.yaml.j2", [{"name": "n1"}, {"name": "n2"}]),
                                  worker.Job(jinja, "broken", broken, "b.yaml.j2", [{"name": "n1"}]),
                                  worker.Job(jinja, "later", later, "c.yaml.j2", [{}])], ROOMY)
    assert worker.spares_used == before + 1 and worker._spare is None
    assert [o.stopped for o in outcomes] == [None, None, None]
    assert outcomes[0].results == {0: [{"kind": "A", "name": "n1"}], 1: [{"kind": "A", "name": "n2"}]}
    failure = outcomes[1].results[0]
    assert isinstance(failure, TemplateFailure)
    assert (failure.file, failure.line) == ("b.yaml.j2", 2) and "syntax error" in failure.message
    assert outcomes[2].results == {0: [{"kind": "C"}]}


def test_warming_stops_when_asked() -> None:
    from platform_gen.renderers import jinja

    files = {f"t{i}.yaml.j2": f"kind: T{i}\n" for i in range(4)}
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2

    jinja.warm(files, stop)
    env = jinja._environment_of(files)
    assert sorted(t.name for t in env.cache.values()) == ["t0.yaml.j2", "t1.yaml.j2"]  # type: ignore[union-attr]
    # a file too large to compile in a few milliseconds is left to its render
    big = {"a.yaml.j2": "kind: A\n", "b.yaml.j2": "# " + "x" * jinja.WARM_MAX + "\nkind: B\n"}
    jinja.warm(big, lambda: False)
    env = jinja._environment_of(big)
    assert sorted(t.name for t in env.cache.values()) == ["a.yaml.j2"]  # type: ignore[union-attr]


def test_worker_raises_on_a_bug() -> None:
    renderer = Renderer("test", ".test", _behave)
    with pytest.raises(RuntimeError, match=r"(?s)the template worker for t/e failed:.*ValueError: not a template"):
        worker.render([worker.Job(renderer, "t", {}, "e", [{"i": 0, "do": "bug"}])], SMALL)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_the_worker_ends_with_platform_gen(example: Path) -> None:
    # platform-gen killed outright (no chance to stop its worker): the worker must not spin on
    limits(example, seconds=600)
    in_jinja(example, JINJA_LOOP)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from platform_gen.cli import main; sys.exit(main())",
                             "render", "--root", str(example)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    kids: list[int] = []
    try:
        until = time.monotonic() + 60
        while not kids and proc.poll() is None and time.monotonic() < until:
            time.sleep(0.05)
            with contextlib.suppress(OSError):
                kids = [int(k) for k in children.read_text().split()]
        assert kids, "the worker did not start"
        proc.kill()
        proc.wait()
        until = time.monotonic() + 10
        while _alive(kids[0]) and time.monotonic() < until:
            time.sleep(0.05)
        assert not _alive(kids[0])
    finally:
        proc.kill()
        proc.wait()
        for kid in kids:
            with contextlib.suppress(OSError):
                os.kill(kid, signal.SIGKILL)


_ANY = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(), st.none(),
                 st.text(max_size=5), st.lists(st.integers(), max_size=2))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.one_of(st.floats(0.001, 3600), _ANY), memory=st.one_of(st.integers(64, 65536), _ANY))
@case(seconds=float("nan"), memory=100)
def test_any_limits_are_a_valid_budget_or_problems(example: Path, seconds: Any, memory: Any) -> None:
    platform_yaml = example / PLATFORM
    original = platform_yaml.read_text()
    try:
        platform_yaml.write_text(original + yaml.safe_dump({"limits": {"templateSeconds": seconds,
                                                                       "templateMemoryMiB": memory}}))
        try:
            budget = validate(load(example)).budget
        except InputError as exc:
            assert any(p.path.startswith("limits.") for p in exc.problems)
        else:
            assert 0 < budget.seconds <= 3600
            assert 64 <= budget.memory_mib <= 65536
    finally:
        platform_yaml.write_text(original)
