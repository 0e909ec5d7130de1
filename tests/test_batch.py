"""Batch work (README "Batch work: CronJob and Job"): CronJobs and Jobs as workloads, their schedules, the
values batch work refuses or ignores, and every template checked with a sample service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from platform_gen import cron, runtimecheck, yamlio
from platform_gen.index import INDEX
from platform_gen.kustomize_tool import Kustomize
from platform_gen.outputs import catalog

from .conftest import REPO, Run, copy_inputs, edit, refused_untouched, snapshot

CFG = "platform-config/services/ledger-reconcile/config.yaml"
CASE = REPO / "tests/cases/batch"


def _objects(kustomize: Kustomize, overlay: Path) -> dict[str, dict]:
    build = kustomize.build(overlay)
    assert build.ok and not build.warnings, build.error or build.warnings
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yamlio.safe_load_all(build.output)}


def _app(pod_template: dict) -> dict:
    return next(c for c in pod_template["spec"]["containers"] if c["name"] == "app")


def test_the_example_cron_job_has_each_environments_schedule(kustomize: Kustomize) -> None:
    overlays = REPO / "rendered/services/ledger-reconcile/overlays"
    assert sorted(p.relative_to(overlays).as_posix() for p in overlays.glob("*/*")) == \
        ["prod/prod-us", "staging/staging-1"]  # onlyClusters: one region reconciles
    staging = _objects(kustomize, overlays / "staging/staging-1")["CronJob/ledger-reconcile"]
    prod = _objects(kustomize, overlays / "prod/prod-us")["CronJob/ledger-reconcile"]
    assert (staging["spec"]["schedule"], "timeZone" in staging["spec"]) == ("*/30 * * * *", False)
    assert (prod["spec"]["schedule"], prod["spec"]["timeZone"]) == ("15 2 * * *", "Europe/Berlin")
    assert prod["spec"]["concurrencyPolicy"] == "Forbid"
    # the overlay patches the app container where a CronJob keeps its pod template
    pod = prod["spec"]["jobTemplate"]["spec"]["template"]
    app = _app(pod)
    assert app["image"] == "ghcr.io/acme/ledger-reconcile:2.0.1"
    assert {e["name"]: e.get("value", e.get("valueFrom")) for e in app["env"]} == {
        "LOG_FORMAT": "json", "LOG_LEVEL": "warn", "REGION": "us-east-1", "SETTLEMENT_SOURCE": "stripe",
        "STRIPE_API_KEY": {"secretKeyRef": {"name": "ledger-reconcile-stripe", "key": "api_key"}}}
    assert app["resources"] == {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    assert "ports" not in app and "readinessProbe" not in app
    assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "acme"  # allowFrom selects callers by it
    # no replicas and no autoscaler for batch work, though the platform defaults set both
    kustomization = yamlio.safe_load_all((overlays / "prod/prod-us/kustomization.yaml").read_text())[0]
    assert "replicas" not in kustomization
    assert not (overlays / "prod/prod-us/monitoring.yaml").exists()
    dashboard = json.loads(_objects(kustomize, overlays / "prod/prod-us")["ConfigMap/ledger-reconcile-dashboard"]
                           ["data"]["ledger-reconcile.json"])
    assert [p["title"] for p in dashboard["panels"]] == ["Runs", "Run duration", "Since the last run", "CPU",
                                                         "Memory", "Restarts"]


def test_the_batch_case_builds_per_cluster_schedules_and_a_job(kustomize: Kustomize) -> None:
    overlays = CASE / "expected/services"
    schedules = {}
    for cluster in ("dev/dev-1", "prod/prod-a", "prod/prod-b"):
        spec = _objects(kustomize, overlays / "nightly-export/overlays" / cluster)["CronJob/nightly-export"]["spec"]
        schedules[cluster] = (spec["schedule"], spec["timeZone"])
    # the platform default zone, a cluster's own; a service's schedule, an environment's, a cluster's
    assert schedules == {"dev/dev-1": ("*/10 * * * *", "Etc/UTC"), "prod/prod-a": ("0 1 * * *", "Etc/UTC"),
                         "prod/prod-b": ("@daily", "America/New_York")}
    job = _objects(kustomize, overlays / "schema-migrate/overlays/prod/prod-b")["Job/schema-migrate"]
    assert "timeZone" not in job["spec"] and "schedule" not in job["spec"]
    assert {e["name"]: e["value"] for e in _app(job["spec"]["template"])["env"]} == \
        {"DRY_RUN": "false", "LOG_LEVEL": "warn", "SCHEMA_VERSION": "41"}
    assert job["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Force=true,Replace=true"


def test_the_batch_case_validates_strictly(tmp_path: Path, run: Run) -> None:
    root = tmp_path / "repo"
    shutil.copytree(CASE / "input", root)
    code, _out, err = run("render", "--root", root)
    assert code == 0, err
    code, out, err = run("validate", "--root", root, "--no-cache")
    assert code == 0, out + err


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('"*/30 * * * *"', '"61 * * * *"',
     f"{CFG}:9:11: error: schedule: '61 * * * *' is not a valid schedule: the minute field '61' is not valid"),
    ('"*/30 * * * *"', '"0 3 * *"',
     f"{CFG}:9:11: error: schedule: '0 3 * *' is not a valid schedule: 4 fields, not 5"),
    ('"*/30 * * * *"', '"0 0 0 3 * *"',
     f"{CFG}:9:11: error: schedule: '0 0 0 3 * *' is not a valid schedule: 6 fields, not 5"),
    ('"*/30 * * * *"', '"0 0 L * *"',  # cron extensions Kubernetes' parser refuses
     f"{CFG}:9:11: error: schedule: '0 0 L * *' is not a valid schedule: the day-of-month field 'L' is not valid"),
    ('"*/30 * * * *"', '"0 0 * * 5#2"',
     f"{CFG}:9:11: error: schedule: '0 0 * * 5#2' is not a valid schedule: the day-of-week field '5#2' is not valid"),
    ('"*/30 * * * *"', '"0 0 * JAN-FOO *"',
     f"{CFG}:9:11: error: schedule: '0 0 * JAN-FOO *' is not a valid schedule: the month field 'JAN-FOO' is not "
     "valid"),
    ('"15 2 * * *"', '"@every 1h"',
     f"{CFG}:20:15: error: environments.prod.schedule: '@every 1h' is not a valid schedule: unknown macro '@every'"),
    ('"15 2 * * *"', '"TZ=Europe/Berlin 15 2 * * *"',
     f"{CFG}:20:15: error: environments.prod.schedule: 'TZ=Europe/Berlin 15 2 * * *' is not a valid schedule: a "
     "time zone in the schedule is refused by Kubernetes: set timeZone instead"),
    ('"*/30 * * * *"', "0",
     f"{CFG}:9:11: error: schedule: expected a string, got 0\n  hint: quote it: \"0\""),
], ids=["range", "four-fields", "six-fields", "L", "hash", "name", "every", "tz", "number"])
def test_a_bad_schedule_is_refused_at_its_line(rendered_once: Path, run: Run, old: str, new: str,
                                               expected: str) -> None:
    refused_untouched(rendered_once, run, CFG, old, new, expected)


def test_a_bad_schedule_hint_says_what_a_schedule_is(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, CFG, '"*/30 * * * *"', '"* * * *"')
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert "  hint: five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day " \
        "of week (0-6 or SUN-SAT), such as \"30 2 * * MON-FRI\"; or a macro: @yearly, @annually, @monthly, " \
        "@weekly, @daily, @midnight, @hourly\n" in err


@pytest.mark.parametrize("schedule", ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly",
                                      "@annually", "*/15 9-17 * * MON-FRI", "0 0 ? * sun", "5,35 */2 1-7 jan,jul *",
                                      "0 0 * * 7", "0 12 1 */3 *"])
def test_schedules_kubernetes_takes(schedule: str) -> None:
    assert cron.schedule_problem(schedule) is None


def test_an_unknown_time_zone_is_refused_with_the_closest_name(rendered_once: Path, run: Run) -> None:
    refused_untouched(rendered_once, run, CFG, "timeZone: Europe/Berlin", "timeZone: Europe/Berlim",
                      f"{CFG}:21:15: error: environments.prod.timeZone: unknown time zone 'Europe/Berlim'\n"
                      "  hint: did you mean 'Europe/Berlin'?")


def test_a_schedule_per_environment_and_cluster_reaches_the_overlay(rendered_once: Path, run: Run,
                                                                    kustomize: Kustomize) -> None:
    edit(rendered_once, CFG, "    onlyClusters: [prod-us]    # one region reconciles: two would post each "
         "correction twice\n", "    clusters:\n      prod-eu: {schedule: \"45 3 * * *\"}\n")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    overlays = rendered_once / "rendered/services/ledger-reconcile/overlays"
    spec = {c: _objects(kustomize, overlays / f"prod/{c}")["CronJob/ledger-reconcile"]["spec"]
            for c in ("prod-us", "prod-eu")}
    assert {c: (s["schedule"], s["timeZone"]) for c, s in spec.items()} == \
        {"prod-us": ("15 2 * * *", "Europe/Berlin"), "prod-eu": ("45 3 * * *", "Europe/Berlin")}


def test_batch_work_refuses_what_only_a_long_running_workload_takes(rendered_once: Path, run: Run) -> None:
    edit(rendered_once, CFG, "  staging: {}\n",
         "  staging: {replicas: 2, autoscaling: {maxReplicas: 3}}\n")
    with (rendered_once / CFG).open("a") as fh:
        fh.write("port: 9000\nhealthPath: /ready\nexpose: {http: {path: /}}\nmetrics: {path: /metrics}\n"
                 "slo: {availability: 99}\n")
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    why = "does not apply to batch work: template 'cron-job' renders a CronJob, which"
    assert err == (
        f"{CFG}:18:13: error: environments.staging.replicas: replicas {why} runs to completion instead of keeping "
        "replicas up\n  hint: remove it: how many pods a run uses is the template's to say\n"
        f"{CFG}:18:26: error: environments.staging.autoscaling: autoscaling {why} runs to completion and is not "
        "autoscaled\n  hint: remove it\n"
        f"{CFG}:23:1: error: port: port {why} serves no port\n  hint: remove it\n"
        f"{CFG}:24:1: error: healthPath: healthPath {why} gets no readiness or liveness probes\n  hint: remove it\n"
        f"{CFG}:25:1: error: expose: expose {why} serves no requests, so it has no URL\n"
        "  hint: remove it; a URL needs a long-running workload, such as the web-service template's\n"
        f"{CFG}:26:1: error: metrics: metrics {why} may end before Prometheus scrapes its pods\n"
        "  hint: remove it; batch work pushes its metrics (to a Prometheus Pushgateway) instead\n"
        f"{CFG}:27:1: error: slo: slo {why} serves no requests for an objective to measure\n  hint: remove it\n"
        "7 problems found; nothing was written.\n")
    assert snapshot(rendered_once / "rendered") == before


def test_a_schedule_for_a_workload_without_a_cron_job_is_refused(rendered_once: Path, run: Run) -> None:
    svc = "platform-config/services/payment-service/config.yaml"
    edit(rendered_once, svc, "    replicas: 3\n", "    replicas: 3\n    timeZone: Etc/UTC\n")
    refused_untouched(rendered_once, run, svc, "  dev:\n", "  dev:\n    schedule: \"@hourly\"\n",
                      f"{svc}:18:5: error: environments.dev.schedule: schedule applies to a CronJob, and template "
                      "'web-service' renders none\n"
                      "  hint: remove it, or use a template that renders a CronJob (such as cron-job)\n"
                      f"{svc}:24:5: error: environments.prod.timeZone: timeZone applies to a CronJob, and template "
                      "'web-service' renders none\n")


def test_a_cron_job_needs_a_schedule_everywhere_it_runs(rendered_once: Path, run: Run) -> None:
    refused_untouched(rendered_once, run, CFG, 'schedule: "*/30 * * * *"\n', "",
                      f"{CFG}:5:11: error: schedule: no value for 'schedule' for ledger-reconcile in "
                      "staging/staging-1: template 'cron-job' renders a CronJob, which runs on a schedule\n"
                      "  hint: set schedule in the service's config.yaml (for every environment, or in each): five "
                      "cron fields such as \"0 3 * * *\", or a macro such as @daily\n1 problem found")


def test_defaults_batch_work_does_not_take_are_ignored(tmp_path: Path, run: Run) -> None:
    # platform-wide metrics, an environment's schedule and zone: the Deployments get monitors and ignore the
    # schedule; the CronJob gets the zone, keeps its own schedule and gets no monitor
    root = copy_inputs(REPO, tmp_path / "repo")
    edit(root, "platform-config/platform.yaml", "defaults:\n", "defaults:\n  metrics: {path: /metrics}\n")
    edit(root, "environments/staging.yaml", "defaults:\n  env:\n", "defaults:\n  schedule: \"@hourly\"\n"
         "  timeZone: Asia/Tokyo\n  env:\n")
    code, _out, err = run("render", "--root", root)
    assert code == 0, err
    staging = root / "rendered/services/ledger-reconcile/overlays/staging/staging-1"
    patch = yamlio.safe_load_all((staging / "kustomization.yaml").read_text())[0]["patches"][0]["patch"]
    assert "spec:\n  schedule: '*/30 * * * *'\n  timeZone: Asia/Tokyo\n" in patch
    assert not (staging / "monitoring.yaml").exists()
    web = root / "rendered/services/payment-service/overlays/staging/staging-1"
    assert "schedule" not in (web / "kustomization.yaml").read_text()
    assert "kind: ServiceMonitor" in (web / "monitoring.yaml").read_text()


def test_a_pod_monitor_selects_the_pods_of_a_cron_job() -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x", "namespace": "ns"},
               "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {
                   "metadata": {"labels": {"app": "x"}},
                   "spec": {"containers": [{"name": "app", "ports": [{"name": "metrics", "containerPort": 9}]}]}}}}}}
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
               "metadata": {"name": "x", "namespace": "ns"},
               "spec": {"selector": {"matchLabels": {"app": "x"}}, "podMetricsEndpoints": [{"port": "metrics"}]}}
    assert runtimecheck.overlay_findings([cronjob, monitor]) == []
    monitor["spec"]["podMetricsEndpoints"] = [{"port": "http"}]
    assert [f[1:] for f in runtimecheck.overlay_findings([cronjob, monitor])] == [
        ("spec.podMetricsEndpoints[0].port",
         "'http' is not the name of a container port of the workload(s) it selects (x: metrics)")]


# --- every template is checked, used or not, with its starter values -------------------------------------


def _spare(root: Path) -> Path:
    """A template no service uses: a copy of cron-job (its starter.yaml included)."""
    spare = root / "platform-config/templates/spare"
    shutil.copytree(root / "platform-config/templates/cron-job", spare)
    return spare


def _samples(root: Path) -> dict[str, str]:
    samples: dict[str, str] = json.loads((root / "rendered" / INDEX).read_bytes())["samples"]
    return samples


def test_a_template_is_checked_with_its_starter_values(rendered_once: Path, run: Run) -> None:
    spare = _spare(rendered_once)
    # the template reads a value that neither the built-in sample nor the platform defaults give
    edit(rendered_once, "platform-config/templates/spare/cronjob.yaml.j2", "  concurrencyPolicy: Forbid\n",
         "  concurrencyPolicy: Forbid  # {{ values.timeZone }}\n")
    (spare / "starter.yaml").unlink()
    before = snapshot(rendered_once / "rendered")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err == ("platform-config/templates/spare/cronjob.yaml.j2:21: error: undefined value: 'dict object' has "
                   "no attribute 'timeZone'\n"
                   "  hint: while rendering a sample service (built-in sample values over the platform defaults; "
                   "every template is checked, used or not)\n1 problem found; nothing was written.\n")
    (spare / "starter.yaml").write_text('schedule: "@daily"\ntimeZone: Etc/UTC\n')
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    assert sorted(_samples(rendered_once)) == ["cron-job", "spare", "static-site", "web-service", "worker"]
    # checked, but nothing of it in the tree (the Backstage Template offers the new golden path, and its
    # skeleton writes the path's starter values)
    offered = INDEX, "catalog/scaffolder/template.yaml", catalog.SKELETON
    skeleton = (rendered_once / "rendered" / catalog.SKELETON).read_text()
    assert '{%- if values.template == "spare" %}\nschedule: \'@daily\'\ntimeZone: Etc/UTC\n{%- endif %}\n' in skeleton
    assert {k: v for k, v in snapshot(rendered_once / "rendered").items() if k not in offered} == \
        {k: v for k, v in before.items() if k not in offered}
    # the starter decides: without the value the template reads, the same template fails again, naming it
    edit(rendered_once, "platform-config/templates/spare/starter.yaml", "timeZone: Etc/UTC\n", "")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert "  hint: while rendering a sample service (the values of platform-config/templates/spare/starter.yaml " \
        "over the platform defaults; every template is checked, used or not)\n" in err


def test_a_used_template_is_checked_with_its_sample_too(rendered_once: Path, run: Run) -> None:
    # ledger-reconcile sets no timeZone outside prod... but its base renders with the top level's values only,
    # and so does the sample: a starter.yaml that breaks the golden path fails, though the service renders
    cronjob = "platform-config/templates/cron-job/cronjob.yaml.j2"
    edit(rendered_once, cronjob, "{%- if values.timeZone is defined %}", "{%- if values.timeZone is defined "
         "or values.env.BREAK is defined %}")
    edit(rendered_once, "platform-config/templates/cron-job/starter.yaml", "resources:\n",
         "env: {BREAK: \"1\"}\nresources:\n")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 1
    assert err.startswith(f"{cronjob}:18: error: undefined value: 'dict object' has no attribute 'timeZone'\n"
                          "  hint: while rendering a sample service (the values of "
                          "platform-config/templates/cron-job/starter.yaml over the platform defaults; ")


def test_a_bad_starter_file_is_refused_at_its_line(rendered_once: Path, run: Run) -> None:
    starter = "platform-config/templates/cron-job/starter.yaml"
    refused_untouched(rendered_once, run, starter, 'schedule: "0 3 * * *"', 'schedule: "0 3 * *"\nreplica: 1',
                      f"{starter}:3:11: error: schedule: '0 3 * *' is not a valid schedule: 4 fields, not 5\n"
                      "  hint: five fields: minute (0-59)")
    _code, _out, err = run("render", "--root", rendered_once)
    assert f"{starter}:4:1: error: replica: unknown key 'replica'\n  hint: did you mean 'replicas'?\n" in err


def test_a_template_is_checked_again_only_when_its_inputs_change(rendered_once: Path, run: Run) -> None:
    _spare(rendered_once)
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    first = _samples(rendered_once)
    index = (rendered_once / "rendered" / INDEX).read_bytes()
    code, _out, err = run("render", "--root", rendered_once)  # nothing changed: nothing rendered or written
    assert code == 0 and "0 created, 0 changed, 0 removed" in err
    assert (rendered_once / "rendered" / INDEX).read_bytes() == index
    edit(rendered_once, "platform-config/templates/spare/starter.yaml", '"0 3 * * *"', '"0 4 * * *"')
    edit(rendered_once, "environments/dev.yaml", "LOG_LEVEL: debug", "LOG_LEVEL: trace")  # no template reads it
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    second = _samples(rendered_once)
    assert {t for t in first if first[t] != second[t]} == {"spare"}
    edit(rendered_once, "platform-config/platform.yaml", "  port: 8080\n", "  port: 8081\n")
    code, _out, err = run("render", "--root", rendered_once)
    assert code == 0, err
    third = _samples(rendered_once)
    assert all(third[t] != second[t] for t in third)  # platform defaults are in every sample
