"""Start-up: a command loads the heavy libraries only when it uses them.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CONSOLE_SCRIPT, REPO

HEAVY = ("jsonschema", "jinja2", "_gojsonnet", "kubernetes_validate", "promql_parser", "helm_python")
CASES = REPO / "tests" / "cases"


def last_line(probe: str, cwd: Path) -> str:
    """The last line ``probe`` prints, run in a fresh interpreter (which must exit 0)."""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()[-1]


def loaded_after(code: str, cwd: Path) -> set[str]:
    """Which of HEAVY are imported once ``code`` has run."""
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    return set(json.loads(last_line(probe, cwd)))


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_after("from platform_gen.cli import main", tmp_path) == set()


def test_version_loads_no_heavy_library(tmp_path: Path) -> None:
    code = "from platform_gen.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code, tmp_path) == set()


@pytest.mark.parametrize(("case", "expected"), [
    # valid inputs pass the compiled schema check: jsonschema is loaded only to explain a problem
    ("basic", {"jinja2"}),  # Jinja templates only
    # go-jsonnet and Helm's library (Go runtimes) start in the template worker only, never here
    ("jsonnet-worker", set()),  # a Jsonnet template only
    ("helm-chart", set()),
])
def test_a_render_loads_the_template_language_it_uses_and_no_other(case: str, expected: set[str],
                                                                   tmp_path: Path) -> None:
    shutil.copytree(CASES / case / "input", tmp_path / "repo")
    code = ("import sys\nfrom platform_gen.cli import main\n"
            "assert main(['render', '--root', 'repo', '--out', 'repo/out', '-q']) == 0")
    assert loaded_after(code, tmp_path) == expected
    # and a second, no-op render too
    assert loaded_after(code, tmp_path) == expected


# --- the console script starts git's listing of the services before it imports the CLI ------------------


@pytest.mark.parametrize(("argv", "root"), [
    (["render"], "."),
    (["render", "--root", "r", "--check"], "r"),
    (["validate", "--root=r"], "r"),
    (["render", "--root"], None),  # click refuses it
    (["render", "--help"], None),
    (["diff", "--root", "r"], None),
    (["render", "--shard", "1/2"], None),
    (["render", "--full"], None),
    (["--version"], None),
    ([], None),
    (["render", "--", "--root", "r"], None),
])
def test_the_launcher_reads_the_root_of_a_render(argv: list[str], root: str | None) -> None:
    from platform_gen.launch import _root_of

    assert _root_of(argv) == root


def test_the_launcher_keeps_the_services_folder_of_the_loader() -> None:
    from platform_gen import launch, load

    assert launch.SERVICES == load.SERVICES_DIR


def test_a_render_takes_the_listing_the_launcher_started(tmp_path: Path) -> None:
    """The listing started before the CLI is imported is the one the render reads (none is left), and gives
    what a listing started then would."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "platform-config", repo / "platform-config")
    shutil.copytree(REPO / "environments", repo / "environments")
    shutil.copytree(REPO / "overlays", repo / "overlays")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "platform-config/services/untracked.txt").write_text("x\n", encoding="utf-8")
    code = ("import sys\nfrom platform_gen import launch\n"
            "launch.start(['render', '--root', sys.argv[1]])\n"
            "assert launch.started() == 2\n"
            "from platform_gen.gitref import default_base, locate, on_disk\n"
            "from pathlib import Path\n"
            "early = on_disk(Path(sys.argv[1]), 'platform-config/services')\n"
            "assert launch.started() == 1\n"
            "late = on_disk(Path(sys.argv[1]), 'platform-config/services')\n"
            "assert early == late and early is not None\n"
            "early_base = default_base(locate(Path(sys.argv[1])))\n"
            "assert launch.started() == 0\n"
            "assert early_base is not None and early_base.ref == 'main'\n"
            "assert early_base == default_base(locate(Path(sys.argv[1])))\n"
            "assert 'platform-config/services/untracked.txt' in early.unsure\n"
            "assert any(r.endswith('/config.yaml') for r in early.ids)\n"
            "launch.start(['render', '--root', sys.argv[1]])\n"
            "launch.discard()\n"
            "assert launch.started() == 0\n")
    proc = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    # and through the console script itself
    out = repo / "out"
    proc = subprocess.run([CONSOLE_SCRIPT, "render", "--root", str(repo),
                           "--out", str(out), "-q"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (out / ".platform-gen.index.json").is_file()


@pytest.mark.parametrize("asked_early", [True, False])
def test_the_base_asked_at_start_up_is_the_one_asked_late(tmp_path: Path, asked_early: bool) -> None:
    """The merge bases the launcher asks git for before the CLI loads give what asking later gives: the first
    of origin/main and main that exists, and an error when HEAD shares no history with it (a shallow clone)."""
    from platform_gen import launch
    from platform_gen.errors import ToolError
    from platform_gen.gitref import default_base, locate, tree_changes

    repo = tmp_path / "repo"
    (repo / "platform-config/services").mkdir(parents=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "topic"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    main = subprocess.run([*git, "rev-parse", "main"], capture_output=True, text=True, check=True).stdout.strip()

    def base() -> object:
        if asked_early:
            launch.start(["render", "--root", str(repo)])
        try:
            return default_base(locate(repo))
        finally:
            launch.discard()

    found = base()
    assert found is not None and (found.ref, found.commit, found.merge_base) == ("main", main, True)  # type: ignore[attr-defined]
    # the tree's files changed since that base, committed or staged, alike (asked of the whole repo early)
    (repo / "rendered").mkdir()
    for name in ("committed.yaml", "staged.yaml"):
        (repo / "rendered" / name).write_text("a: 1\n", encoding="utf-8")
        subprocess.run([*git, "add", "-A"], check=True)
        if name == "committed.yaml":
            subprocess.run([*git, "commit", "-qm", "three"], check=True)
    (repo / "platform-config/services/x.yaml").write_text("b: 1\n", encoding="utf-8")
    subprocess.run([*git, "add", "-A"], check=True)
    if asked_early:
        launch.start(["render", "--root", str(repo)])
    try:
        assert tree_changes(repo, repo / "rendered") == {"committed.yaml", "staged.yaml"}
    finally:
        launch.discard()
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    found = base()
    assert found is not None and found.ref == "origin/main"  # type: ignore[attr-defined]
    subprocess.run([*git, "update-ref", "-d", "refs/remotes/origin/main"], check=True)
    subprocess.run([*git, "checkout", "-q", "--orphan", "alone"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "three"], check=True)
    with pytest.raises(ToolError, match="HEAD and main have no merge base"):
        base()
    assert launch.started() == 0


def test_validate_is_not_asked_the_trees_changes(tmp_path: Path) -> None:
    """``validate`` reads the base's index, not what changed in the tree: the launcher asks git where the repo
    sits and for its merge bases, and not for the tree's changes (a render is asked all three)."""
    from platform_gen import launch

    repo = tmp_path / "repo"
    (repo / "platform-config/services").mkdir(parents=True)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    for command, asked_for_changes in (("validate", False), ("render", True)):
        launch.start([command, "--root", str(repo)])
        try:
            asked = launch.take_base(str(repo))
            assert asked is not None
            assert asked.done.wait(30)
            assert len(asked.answers) == 1 + len(launch.BASES)
            assert (asked.changes is not None) is asked_for_changes
        finally:
            launch.discard()


def test_the_console_script_imports_with_the_collector_off_and_runs_with_it_on(tmp_path: Path) -> None:
    """The CLI's modules are imported with the cyclic garbage collector off, then frozen out of its walks
    (``launch.entry``); the command runs with the collector on again."""
    probe = ("import atexit, gc, sys\n"
             "from platform_gen import launch\n"
             "atexit.register(lambda: print(gc.isenabled(), gc.get_freeze_count() > 1000,\n"
             "                              'platform_gen.cli' in sys.modules))\n"
             "sys.argv = ['platform-gen', '--version']\n"
             "launch.entry()\n")
    assert last_line(probe, tmp_path) == "True True True"


# --- the console script leaves without the interpreter's teardown ----------------------------------------------

_LEAVING = (
    "import atexit, sys, threading, time\n"
    "from platform_gen import launch\n"
    "atexit.register(lambda: print('atexit ran'))\n"
    "def late():\n"
    "    time.sleep(0.2)\n"
    "    print('thread done')\n"
    "threading.Thread(target=late).start()\n"
    "sys.stdout.write('x' * 100000 + '\\n')\n"  # held in the stream's buffer: stdout is a pipe
    "launch.leave(3)\n"
    "print('not reached')\n"
)


def _buffered() -> dict[str, str]:
    """The environment with Python's standard streams buffered (as a console script's are on a pipe)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_leaving_waits_for_threads_runs_atexit_and_flushes_the_streams(tmp_path: Path) -> None:
    """``launch.leave`` ends the process with the command's code after what Python's exit would do first: the
    threads that are not daemons finish, the atexit functions run, and buffered output is written."""
    proc = subprocess.run([sys.executable, "-c", _LEAVING], capture_output=True, text=True, cwd=tmp_path,
                          env=_buffered(), check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "x" * 100000 + "\nthread done\natexit ran\n"


def test_leaving_with_output_that_cannot_be_written_is_not_a_success(tmp_path: Path) -> None:
    """When the standard output is a closed pipe, the buffered output cannot be flushed: Python's own exit then
    reports it (exit code 120), where a success would hide the lost output."""
    probe = _LEAVING.replace("launch.leave(3)", "launch.leave(0)").replace("100000", "100")  # (within the buffer)
    with subprocess.Popen([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=tmp_path, env=_buffered()) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(30) == 120, err
    assert b"BrokenPipeError" in err


def test_the_console_script_exits_with_the_commands_code_and_its_whole_output(tmp_path: Path) -> None:
    """Through the console script: a render's JSON report arrives whole on a pipe, with exit 0; a broken input
    exits 1 with its problems."""
    repo = tmp_path / "repo"
    shutil.copytree(CASES / "basic" / "input", repo)
    argv = [CONSOLE_SCRIPT, "render", "--root", str(repo), "--out", str(repo / "out"), "--format", "json"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"
    config = next((repo / "platform-config" / "services").glob("*/config.yaml"))
    config.write_text(config.read_text(encoding="utf-8") + "replicas: many\n", encoding="utf-8")
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["problems"]


@pytest.mark.parametrize("closed", [1, 2], ids=["stdout", "stderr"])
def test_a_command_started_without_a_standard_stream_runs_as_with_it(closed: int, tmp_path: Path) -> None:
    """A process started with its stdout or stderr closed (``>&-``) has None for that stream in Python: the
    command still runs, no colour is guessed from it, and it leaves with its own code."""
    repo = tmp_path / "repo"
    shutil.copytree(CASES / "basic" / "input", repo)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CONSOLE_SCRIPT, *args], capture_output=True, text=True, check=False,
                              preexec_fn=lambda: os.close(closed))

    assert run("--version").returncode == 0
    out = ["--root", str(repo), "--out", str(repo / "out")]
    proc = run("render", *out)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "out" / ".platform-gen.index.json").is_file()
    proc = run("render", "--check", *out)
    assert proc.returncode == 0, proc.stderr
    (repo / "out" / ".platform-gen.index.json").unlink()
    assert run("render", "--check", *out).returncode == 1
