"""Helm charts as golden paths (README "Helm charts"), rendered by real Helm: the library from
helm-python-sdk, or the helm binary where one is on the PATH.

The example platform's ``static-site`` chart (used by ``docs-site``) is broken in each way a
chart can break; every failure is a problem at the chart file, nothing is written.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from platform_gen import yamlio
from platform_gen.kustomize_tool import Kustomize

from .conftest import EXAMPLE_SERVICES, Run, edit, refused_untouched, snapshot, tree
from .test_incremental import committed, counts

CHART = "platform-config/templates/static-site"
DEPLOYMENT = f"{CHART}/templates/deployment.yaml"
SERVICE = f"{CHART}/templates/service.yaml"
DOCS = "platform-config/services/docs-site/config.yaml"
SERVICE_END = "      protocol: TCP\n"
CASE = Path(__file__).parent / "cases" / "helm-chart" / "input"


def add(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def archive(files: dict[str, str]) -> bytes:
    """A chart archive as 'helm package' writes it (a gzipped tar of <chart>/...)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


# --- the example's Helm golden path -----------------------------------------------------------------


def test_the_chart_renders_the_base_with_the_platform_mapping(rendered_once: Path) -> None:
    base = rendered_once / "rendered/services/docs-site/base"
    assert sorted(p.name for p in base.iterdir()) == [
        "deployment.yaml", "kustomization.yaml", "poddisruptionbudget.yaml", "service.yaml", "serviceaccount.yaml"]
    deployment = yamlio.safe_load((base / "deployment.yaml").read_text())
    # .Release.Name is the service, .Values its base values, .Values.platform the rest of the context
    assert deployment["metadata"] == {"name": "docs-site", "labels": {"app.kubernetes.io/name": "docs-site"},
                                      "annotations": {"platform-gen.io/description":
                                                      "The public developer documentation"}}
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (app["name"], app["image"]) == ("app", "ghcr.io/acme/docs-site:2.3.0")
    assert app["env"] == [{"name": "LOG_FORMAT", "value": "json"}]  # platform defaults under the service
    assert deployment["spec"]["revisionHistoryLimit"] == 5  # the chart's own values.yaml
    text = "".join(p.read_text() for p in base.iterdir())
    # Helm-only noise and the release namespace are gone; NOTES.txt renders nothing
    assert "helm.sh/chart" not in text and "managed-by" not in text and "namespace:" not in text
    assert "a static site of team" not in text


def test_the_chart_overlays_build_and_patch_the_app_container(rendered_once: Path, kustomize: Kustomize) -> None:
    build = kustomize.build(rendered_once / "rendered/services/docs-site/overlays/dev/dev-1")
    assert build.ok and not build.warnings, build.error
    objects = {o["kind"]: o for o in yamlio.safe_load_all(build.output)}
    assert set(objects) == {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "HTTPRoute",
                            "ConfigMap"}
    deployment = objects["Deployment"]
    assert deployment["metadata"]["namespace"] == "team-data"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "platform-gen"
    assert deployment["spec"]["replicas"] == 1  # dev: {replicas: 1}
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "LOG_LEVEL", "value": "debug"} in app["env"]  # environments/dev.yaml
    assert objects["HTTPRoute"]["spec"]["hostnames"] == ["docs-site.dev.acme.io"]


def test_the_helm_case_validates_strictly(tmp_path: Path, run: Run) -> None:
    """The golden case's chart (a vendored library chart .tgz, a folder subchart, .helmignore) renders and
    passes validate: yamllint of its Chart.yaml and values.yaml, kustomize, the Kubernetes schemas."""
    root = Path(shutil.copytree(CASE, tmp_path / "repo"))
    code, _out, err = run("render", "--root", root)
    assert code == 0, err
    code, out, err = run("validate", "--root", root, "--no-cache", "--lint-tree", "--format", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert (doc["status"], doc["overlays"]) == ("ok", 3)


def test_helms_library_never_runs_in_platform_gen_itself(rendered_once: Path, run: Run) -> None:
    """A Go runtime does not survive a fork: the library starts only in the worker."""
    assert run("render", "--root", rendered_once, "--full")[0] == 0
    assert "helm_python" not in sys.modules


def test_a_small_memory_budget_still_renders_a_chart(rendered_once: Path, run: Run) -> None:
    """Helm's library reserves about 1 GiB of address space when it starts: before the cap, not under it."""
    edit(rendered_once, "platform-config/platform.yaml", "\nnamespaceDefaults:", "\nlimits: {templateMemoryMiB: 64}"
         "\nnamespaceDefaults:")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err


# --- bad charts: a problem at the chart file, nothing written ------------------------------------------


BAD = [
    pytest.param(SERVICE, SERVICE_END, SERVICE_END + "x: {{ .Values.port\n",
                 f"{SERVICE}:17: error: helm: template parse error: unclosed action", id="syntax"),
    pytest.param(SERVICE, SERVICE_END, SERVICE_END + "{{ fail \"a static site needs a port\" }}\n",
                 f"{SERVICE}:17:3: error: helm: a static site needs a port\n"
                 "  hint: while rendering service 'docs-site'", id="fail"),
    pytest.param(DEPLOYMENT, "{{ .Values.revisionHistoryLimit }}",
                 "{{ required \"set revisionHistoryLimit\" .Values.historyLimit }}",
                 f"{DEPLOYMENT}:14:27: error: helm: set revisionHistoryLimit", id="required"),
    pytest.param(DEPLOYMENT, "{{ .Values.revisionHistoryLimit }}", "{{ .Values.history.limit }}",
                 f"{DEPLOYMENT}:14:34: error: helm: nil pointer evaluating interface {{}}.limit "
                 "(at .Values.history.limit)", id="nil"),
    pytest.param(f"{CHART}/templates/_helpers.tpl", "app.kubernetes.io/name: {{ .Release.Name }}",
                 "app.kubernetes.io/name: {{ .Values.nothing.here }}",
                 f"{CHART}/templates/_helpers.tpl:3:34: error: helm: nil pointer evaluating interface {{}}.here "
                 "(at .Values.nothing.here)",
                 id="inside-include"),
    pytest.param(f"{CHART}/Chart.yaml", "version: 1.0.0\n", "version: 1.0.0\ndependencies:\n  - name: common\n"
                 "    version: 2.x.x\n    repository: oci://registry.example.com/charts\n",
                 f"{CHART}/Chart.yaml:9:5: error: dependencies[0]: dependency 'common' is not vendored under "
                 "charts/: rendering it would need a network fetch from oci://registry.example.com/charts, and "
                 "platform-gen renders offline\n  hint: run 'helm dependency build "
                 f"{CHART}' and commit the charts/ folder it writes", id="not-vendored"),
    pytest.param(f"{CHART}/Chart.yaml", "name: static-site\n", "",
                 f"{CHART}/Chart.yaml: error: helm: validation: chart.metadata.name is required",
                 id="chart-without-name"),
    pytest.param(f"{CHART}/values.yaml", "revisionHistoryLimit: 5\n", "revisionHistoryLimit: [5\n",
                 f"{CHART}/values.yaml:4: error: helm: cannot load values.yaml", id="values-not-yaml"),
    pytest.param(SERVICE, "  namespace: {{ .Release.Namespace }}\n", "  namespace: default\n",
                 f"{SERVICE}: error: Service 'docs-site' sets namespace 'default'; the overlays put every object "
                 "in the team's namespace (team-data)", id="other-namespace"),
    pytest.param(SERVICE, "    {{- include \"static-site.selectorLabels\" . | nindent 4 }}\n",
                 "    app.kubernetes.io/name: static-site\n",
                 f"{SERVICE}: error: Service 'docs-site' selects app.kubernetes.io/name: static-site, but the "
                 "overlays label every pod app.kubernetes.io/name: docs-site (the service's name), so it would "
                 "select none", id="selector"),
    pytest.param(f"{CHART}/templates/serviceaccount.yaml", "automountServiceAccountToken: false\n",
                 "automountServiceAccountToken: false\nsecrets:\n  - name: {{ randAlphaNum 12 | lower }}\n",
                 f"{CHART}/templates/serviceaccount.yaml: error: the chart renders differently each time",
                 id="random"),
    pytest.param(SERVICE, SERVICE_END, SERVICE_END + "---\napiVersion: rbac.authorization.k8s.io/v1\n"
                 "kind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}\nrules: []\n",
                 f"{CHART}/Chart.yaml: error: ClusterRole 'docs-site' (rbac.authorization.k8s.io) is "
                 "cluster-scoped", id="cluster-scoped"),
]


@pytest.mark.parametrize(("rel", "old", "new", "expected"), BAD)
def test_a_broken_chart_is_a_problem_at_its_file(rendered_once: Path, run: Run, rel: str, old: str, new: str,
                                                  expected: str) -> None:
    refused_untouched(rendered_once, run, rel, old, new, expected)


@pytest.mark.parametrize(("hook", "kind"), [("test", "Pod"), ("pre-install,pre-upgrade", "Job")])
def test_hooks_and_tests_are_refused(rendered_once: Path, run: Run, hook: str, kind: str) -> None:
    rel = f"{CHART}/templates/tests/check.yaml"
    add(rendered_once, rel, f"apiVersion: {'v1' if kind == 'Pod' else 'batch/v1'}\nkind: {kind}\nmetadata:\n"
        f"  name: {{{{ .Release.Name }}}}-check\n  annotations:\n    \"helm.sh/hook\": {hook}\n")
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert (f"{rel}: error: {kind} 'docs-site-check' is a Helm hook (helm.sh/hook: {hook}); hooks and tests are "
            "not rendered\n  hint: Argo CD applies the rendered manifests as they are and runs no Helm hooks: "
            "make it a plain resource, an Argo CD sync hook (argocd.argoproj.io/hook), or remove it (a chart's "
            "tests too); while rendering service 'docs-site'\n") in err
    assert snapshot(rendered_once / "rendered") == before


def test_a_broken_chart_no_service_uses_is_found(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, DOCS, "template: static-site", "template: web-service")
    refused_untouched(rendered_once, run, SERVICE, SERVICE_END, SERVICE_END + "{{ fail \"broken\" }}\n",
                      f"{SERVICE}:17:3: error: helm: broken\n"
                      "  hint: while rendering a sample service (built-in sample values over the platform defaults; "
                      "every template is checked, used or not)")


def test_a_vendored_archive_satisfies_a_dependency(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, f"{CHART}/Chart.yaml", "version: 1.0.0\n", "version: 1.0.0\ndependencies:\n"
         "  - name: extras\n    version: 0.1.0\n    repository: https://charts.example.com\n")
    extras = {"extras/Chart.yaml": "apiVersion: v2\nname: extras\nversion: 0.1.0\n",
              "extras/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                          "  name: {{ .Release.Name }}-extras\ndata: {}\n"}
    (rendered_once / CHART / "charts").mkdir()
    (rendered_once / CHART / "charts/extras-0.1.0.tgz").write_bytes(archive(extras))
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    assert (rendered_once / "rendered/services/docs-site/base/configmap.yaml").is_file()
    # an archive that is no chart does not count as vendored
    (rendered_once / CHART / "charts/extras-0.1.0.tgz").write_bytes(b"not a tarball")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert (f"{CHART}/Chart.yaml:9:5: error: dependencies[0]: dependency 'extras' is not vendored under charts/ "
            "(charts/extras-0.1.0.tgz is no chart archive)") in err


def test_chart_templates_are_not_linted_as_yaml(rendered_once: Path, run: Run) -> None:
    code, out, err = run("validate", "--root", rendered_once, "--no-cache", "--format", "json")
    assert code == 0, out + err
    edit(rendered_once, f"{CHART}/values.yaml", "revisionHistoryLimit: 5\n", "revisionHistoryLimit: 5   \n")
    code, out, _err = run("validate", "--root", rendered_once, "--no-cache", "--format", "json")
    assert code == 1
    assert [(p["file"], p["line"]) for p in json.loads(out)["problems"]] == [(f"{CHART}/values.yaml", 4)]


def test_a_full_temporary_disk_is_a_problem(rendered_once: Path) -> None:
    """Helm reads a chart from a temporary folder: a write that fails there is reported, nothing is written."""
    from .test_write_transaction import cli

    before = snapshot(rendered_once / "rendered")
    failed = cli("render", "--root", rendered_once, "--full", limit_fsize=600)  # as if the disk were full
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.startswith(
        f"{CHART}/Chart.yaml: error: cannot write the chart to a temporary folder for Helm: File too large\n"
        "  hint: Helm reads a chart from a folder: make room in the temporary folder (TMPDIR); while rendering "
        "service 'docs-site'\n"), failed.stderr
    assert snapshot(rendered_once / "rendered") == before


# --- the engine ------------------------------------------------------------------------------------


def test_an_engine_that_cannot_run_is_a_problem(rendered_once: Path, run: Run, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    monkeypatch.setenv("PLATFORM_GEN_HELM", str(rendered_once / "no-such-helm"))
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once, "--full")
    assert code == 1
    assert f"{CHART}/Chart.yaml: error: cannot run {rendered_once / 'no-such-helm'}" in err
    assert "set PLATFORM_GEN_HELM to 'library' or to a helm binary" in err
    assert snapshot(rendered_once / "rendered") == before


@pytest.mark.skipif(shutil.which("helm") is None, reason="no helm binary on the PATH (the library is tested)")
def test_the_helm_binary_renders_what_the_library_renders(tmp_path: Path, run: Run,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    trees = []
    for engine in ("library", str(shutil.which("helm"))):
        monkeypatch.setenv("PLATFORM_GEN_HELM", engine)
        root = Path(shutil.copytree(CASE, tmp_path / Path(engine).name / "repo"))
        code, _out, err = run("render", "--root", root)
        assert code == 0, err
        trees.append(tree(root / "rendered"))
    assert trees[0] == trees[1]


# --- incremental render: every file of the chart counts ------------------------------------------------


@pytest.mark.parametrize("change", ["template", "values", "helmignore", "archive"])
def test_editing_any_chart_file_renders_its_services_again(example: Path, change: str) -> None:
    committed(example)
    assert counts(example) == {"rendered": EXAMPLE_SERVICES, "unchanged": 0}
    assert counts(example) == {"rendered": 0, "unchanged": EXAMPLE_SERVICES}
    if change == "template":
        edit(example, SERVICE, "  type: ClusterIP\n", "  type: ClusterIP\n  sessionAffinity: ClientIP\n")
    elif change == "values":
        edit(example, f"{CHART}/values.yaml", "revisionHistoryLimit: 5", "revisionHistoryLimit: 3")
    elif change == "helmignore":
        add(example, f"{CHART}/.helmignore", "*.md\nREADME*\n")
    else:
        (example / CHART / "charts").mkdir()
        (example / CHART / "charts/unused-0.1.0.tgz").write_bytes(
            archive({"unused/Chart.yaml": "apiVersion: v2\nname: unused\nversion: 0.1.0\ntype: library\n"}))
    assert counts(example) == {"rendered": 1, "unchanged": EXAMPLE_SERVICES - 1}  # docs-site alone
    assert counts(example, "--check", "--full") == {"rendered": EXAMPLE_SERVICES, "unchanged": 0}



def test_helm_template_output_and_errors_are_read_like_the_librarys() -> None:
    """What the binary engine reads of 'helm template' (its output format and its error lines)."""
    from platform_gen.renderers import helm

    output = ("---\n# Source: api/charts/settings/templates/configmap.yaml\napiVersion: v1\nkind: ConfigMap\n"
              "metadata:\n  name: shop-settings\n---\n# Source: api/templates/service.yaml\napiVersion: v1\n"
              "kind: Service\nmetadata:\n  name: shop\n  namespace: team-web\n---\n"
              "# Source: api/templates/service.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: shop\n")
    split = helm._split(output)
    assert sorted(split) == ["api/charts/settings/templates/configmap.yaml", "api/templates/service.yaml"]
    objects = helm.objects(split, "shop", "team-web")
    assert [(o["kind"], o["metadata"]) for o in objects] == [
        ("ConfigMap", {"name": "shop-settings"}), ("Service", {"name": "shop"}),
        ("ServiceAccount", {"name": "shop"})]
    failure = helm._failure("Error: execution error at (api/templates/deployment.yaml:12:20): tag is required\n")
    assert (failure.file, failure.line, failure.column, failure.message) == (
        "templates/deployment.yaml", 12, 20, "helm: tag is required")
    failure = helm._failure("Error: found in Chart.yaml, but missing in charts/ directory: common\n")
    assert (failure.file, failure.line, failure.message) == (
        "Chart.yaml", 0, "helm: found in Chart.yaml, but missing in charts/ directory: common")
