"""CLI behaviour: explain, JSON output, verbosity, help."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import EXAMPLE_FILES, REPO, Run


def test_explain_shows_values_with_origins(example: Path, run: Run) -> None:
    code, out, _err = run("explain", "payment-service", "prod", "prod-us", "--root", example)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "payment-service in prod/prod-us (Application payment-service-prod-us, team payments)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["replicas"] == ["5", "platform-config/services/payment-service/config.yaml:25"]
    assert rows["env.REGION"] == ["us-east-1", "environments/prod.yaml:9"]
    assert rows["env.LOG_FORMAT"] == ["json", "platform-config/platform.yaml:31"]
    assert rows["resources.requests.cpu"] == ["250m", "platform-config/services/payment-service/config.yaml:11"]
    assert rows["resources.limits.memory"] == ["1Gi", "platform-config/services/payment-service/config.yaml:27"]


def test_explain_all_clusters_of_an_environment(example: Path, run: Run) -> None:
    code, out, _err = run("explain", "payment-service", "prod", "--root", example)
    assert code == 0
    assert "payment-service in prod/prod-eu" in out and "payment-service in prod/prod-us" in out


def test_explain_json(example: Path, run: Run) -> None:
    code, out, _err = run("explain", "payment-service", "dev", "--root", example, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    (target,) = doc["targets"]
    assert target["application"] == "payment-service-dev-1"
    assert target["values"]["tag"] == "1.5.0-rc.1"
    assert target["origins"]["tag"] == "platform-config/services/payment-service/config.yaml:19"
    assert target["origins"]["replicas"] == "platform-config/services/payment-service/config.yaml:18"


def test_explain_unknown_names_get_hints(example: Path, run: Run) -> None:
    code, _out, err = run("explain", "payment-servce", "prod", "--root", example)
    assert code == 1 and "unknown service 'payment-servce'" in err and "did you mean 'payment-service'?" in err
    code, _out, err = run("explain", "report-builder", "prod", "--root", example)
    assert code == 1 and "service 'report-builder' does not run in environment 'prod'" in err
    assert "valid environments of report-builder: dev" in err


def test_render_quiet_prints_nothing(example: Path, run: Run) -> None:
    code, out, err = run("render", "--root", example, "-q")
    assert (code, out, err) == (0, "", "")


def test_render_summary(example: Path, run: Run) -> None:
    code, _out, err = run("render", "--root", example)
    assert code == 0
    assert err == (f"rendered/: {EXAMPLE_FILES} created, 0 changed, 0 removed, 0 unchanged\n"
                   ".github/CODEOWNERS: created\n")


def test_help_lists_commands(run: Run) -> None:
    code, out, _err = run("--help")
    assert code == 0
    for command in ("render", "explain"):
        assert command in out


def test_options_match_the_readme(run: Run, example: Path) -> None:
    # explain has no --out (it writes nothing); diff has neither --out nor -q
    code, _out, err = run("explain", "--root", example, "--out", example / "x", "payment-service", "prod")
    assert code == 2 and "No such option '--out'" in err
    for option in ("--out", "-q"):
        code, _out, err = run("diff", option, "x")
        assert code == 2 and f"No such option '{option}'" in err
    readme = (REPO / "README.md").read_text()
    assert "`render` and `validate` also take `--out DIR`" in readme
    # shards writes nothing and reads the tree at gitops.path: no --out; the commands that write keep it
    code, out, _err = run("shards", "--help")
    assert code == 0 and "--out" not in out and "--root" in out
    code, _out, err = run("shards", "--root", example, "--out", example / "x")
    assert code == 2 and "No such option '--out'" in err
    for command in ("render", "validate", "merge"):
        code, out, _err = run(command, "--help")
        assert code == 0 and "--out DIRECTORY" in out, command


def test_the_import_name_is_distinctive(tmp_path: Path, example: Path) -> None:
    """Another package named like a common word cannot shadow platform-gen's code."""
    import os
    import subprocess
    import sys

    shadow = tmp_path / "shadow" / "generator"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('an unrelated package called generator')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    done = subprocess.run([sys.executable, "-c", "import sys; from platform_gen.cli import main; "
                           f"sys.exit(main(['render', '--check', '--root', {str(example)!r}]))"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 1 and "rendered" in done.stdout + done.stderr, done.stderr
    assert "ImportError" not in done.stderr
