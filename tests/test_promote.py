"""platform-gen promote (issue 13): in real temporary git repositories, with the real CLI and kustomize."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_gen.promote import Edit, EditError, apply_edits

from .conftest import Run, edit, snapshot

PAYMENT = "platform-config/services/payment-service/config.yaml"
USER = "platform-config/services/user-profile/config.yaml"
DIGEST = "sha256:" + "ab" * 32


def git(root: Path, *args: str, when: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{when} +0000"
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def commit(root: Path, run: Run, message: str, when: int | None = None) -> None:
    code, _out, err = run("render", "--root", root, "-q")
    assert code == 0, err
    git(root, "add", "-A")
    git(root, "commit", "-qm", message, when=when)


@pytest.fixture
def repo(example: Path, run: Run) -> Path:
    """The example platform, rendered and committed on main in a fresh git repository."""
    git(example, "init", "-q", "-b", "main")
    commit(example, run, "init")
    return example


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_promote_one_service_changes_only_the_tag_line(repo: Path, run: Run) -> None:
    before = (repo / PAYMENT).read_text()
    code, out, err = run("promote", "payment-service", "--to", "staging", "--root", repo)
    assert code == 0, err
    after = (repo / PAYMENT).read_text()
    # the empty staging mapping gets the tag; every comment, quote and blank line stays
    assert changed_lines(before, after) == ["-  staging: {}", "+  staging:", '+    tag: "1.5.0-rc.1"']
    assert "payment-service: tag 1.4.2 -> 1.5.0-rc.1" in out
    assert "payment-service-staging-1" in out and "+        image: ghcr.io/acme/payment-service:1.5.0-rc.1" in out
    # the tree was rendered: render --check passes, and only payment-service's staging files changed
    assert run("render", "--check", "--root", repo)[0] == 0
    assert sorted(git(repo, "diff", "--name-only").split()) == sorted([
        PAYMENT, "rendered/.platform-gen.index.json", "rendered/argocd/applicationsets/payment-service.yaml",
        "rendered/services/payment-service/overlays/staging/staging-1/kustomization.yaml"])
    # promoting again: already there, nothing written
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "promoted")
    code, out, err = run("promote", "payment-service", "--to", "staging", "--root", repo)
    assert code == 0, err
    assert "already in staging, nothing to write: payment-service" in out
    assert git(repo, "status", "--porcelain") == ""


def test_existing_tag_line_keeps_comment_and_quotes(repo: Path, run: Run) -> None:
    edit(repo, USER, "  staging: {}\n", '  staging:\n    tag: "0.9.0"   # what staging runs\n')
    commit(repo, run, "pin staging")
    before = (repo / USER).read_text()
    code, _out, err = run("promote", "user-profile", "--to", "staging", "--root", repo)
    assert code == 0, err
    # the comment stays at its column where the new value leaves room for it
    assert changed_lines(before, (repo / USER).read_text()) == [
        '-    tag: "0.9.0"   # what staging runs', '+    tag: "0.10.0-beta.2" # what staging runs']


def test_dry_run_writes_nothing(repo: Path, run: Run) -> None:
    before = snapshot(repo)
    code, out, err = run("promote", "payment-service", "--to", "staging", "--dry-run", "--root", repo)
    assert code == 0, err
    assert "tag 1.4.2 -> 1.5.0-rc.1" in out
    assert "would write" in err
    assert snapshot(repo) == before


def test_all_promotes_several_services_in_one_run(repo: Path, run: Run) -> None:
    code, out, err = run("promote", "--all", "--to", "staging", "--format", "json", "--root", repo)
    assert code == 0, err
    doc = json.loads(out)
    changed = sorted(s["service"] for s in doc["services"] if s["changes"])
    assert changed == ["payment-service", "user-profile"]
    assert doc["written"] is True and doc["diff"]["status"]
    # services that run in dev and staging with the same values: listed, nothing written for them
    same = sorted(s["service"] for s in doc["services"] if not s["changes"])
    assert "auth-service" in same and "event-ingest" in same
    assert 'tag: "0.10.0-beta.2"' in (repo / USER).read_text()
    assert run("render", "--check", "--root", repo)[0] == 0


def test_value_already_inherited_writes_nothing(repo: Path, run: Run) -> None:
    # staging to prod: auth-service gets 2.8.1 in both from its top level
    before = snapshot(repo)
    code, out, err = run("promote", "auth-service", "--to", "prod", "--root", repo)
    assert code == 0, err
    assert "already in prod, nothing to write: auth-service" in out
    assert snapshot(repo) == before


def test_per_cluster_tag_lines_are_each_updated(repo: Path, run: Run) -> None:
    edit(repo, "platform-config/services/event-ingest/config.yaml", "      prod-eu:\n",
         '      prod-us:\n        tag: "5.0.1"\n      prod-eu:\n        tag: "5.0.2"   # eu lags\n')
    commit(repo, run, "per-cluster tags")
    before = (repo / "platform-config/services/event-ingest/config.yaml").read_text()
    code, _out, err = run("promote", "event-ingest", "--to", "prod", "--root", repo)
    assert code == 0, err
    after = (repo / "platform-config/services/event-ingest/config.yaml").read_text()
    assert changed_lines(before, after) == ['-        tag: "5.0.1"', '+        tag: "5.0.3"',
                                            '-        tag: "5.0.2"   # eu lags', '+        tag: "5.0.3"   # eu lags']


def test_order_violation_is_refused_without_force(repo: Path, run: Run) -> None:
    before = snapshot(repo)
    code, _out, err = run("promote", "payment-service", "--from", "staging", "--to", "dev", "--root", repo)
    assert code == 1
    assert "environments/dev.yaml:3:" in err and "goes against the promotion order" in err and "--force" in err
    assert "nothing was written" in err
    assert snapshot(repo) == before
    code, out, _err = run("promote", "payment-service", "--from", "staging", "--to", "dev", "--format", "json",
                          "--root", repo)
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "refused" and doc["problems"][0]["path"] == "order"
    code, _out, err = run("promote", "payment-service", "--from", "staging", "--to", "dev", "--force",
                          "--root", repo)
    assert code == 0, err
    assert 'tag: "1.4.2"' in (repo / PAYMENT).read_text().split("staging:")[0]


def test_service_not_running_in_source_or_target_is_refused(repo: Path, run: Run) -> None:
    before = snapshot(repo)
    code, _out, err = run("promote", "docs-site", "--to", "staging", "--root", repo)
    assert code == 1
    assert "docs-site does not run in 'staging'" in err
    code, _out, err = run("promote", "ledger-worker", "--to", "staging", "--root", repo)
    assert code == 1
    assert "ledger-worker does not run in 'dev'" in err
    code, _out, err = run("promote", "nope", "--to", "staging", "--root", repo)
    assert code == 1 and "unknown service 'nope'" in err
    assert snapshot(repo) == before


def test_stale_tree_is_refused_unless_allow_dirty(repo: Path, run: Run) -> None:
    edit(repo, PAYMENT, "  dev:\n    replicas: 1\n", "  dev:\n    replicas: 2\n")
    before = snapshot(repo)
    code, _out, err = run("promote", "payment-service", "--to", "staging", "--root", repo)
    assert code == 1
    assert "is not current" in err and "--allow-dirty" in err
    assert snapshot(repo) == before
    code, _out, err = run("promote", "payment-service", "--to", "staging", "--allow-dirty", "--root", repo)
    assert code == 0, err


def test_latest_is_refused_into_a_protected_environment(repo: Path, run: Run) -> None:
    edit(repo, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n", "  staging: {tag: latest}\n")
    commit(repo, run, "latest in staging")
    before = snapshot(repo)
    code, _out, err = run("promote", "ledger-worker", "--to", "prod", "--root", repo)
    assert code == 1
    assert "tag 'latest' is not immutable" in err
    assert snapshot(repo) == before
    code, out, err = run("promote", "ledger-worker", "--to", "prod", "--skip-gate", "immutable", "--root", repo)
    assert code == 0, err
    assert "gate 'immutable' SKIPPED" in out


# --- gates ---------------------------------------------------------------------------------------


def gate(repo: Path, run: Run, text: str, when: int | None = None) -> None:
    path = repo / "environments/prod.yaml"
    path.write_text(path.read_text() + text)
    commit(repo, run, "gates", when)


def test_soak_gate_refuses_then_passes(example: Path, run: Run) -> None:
    now = int(time.time())
    git(example, "init", "-q", "-b", "main")
    commit(example, run, "init", when=now - 10 * 86400)
    gate(example, run, "promotion: {from: staging, soak: 24h}\n", when=now - 9 * 86400)
    # a new tag reaches staging five hours ago
    edit(example, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n",
         '  staging: {tag: "3.3.0"}\n')
    commit(example, run, "ledger-worker 3.3.0 to staging", when=now - 5 * 3600)
    before = snapshot(example)
    code, _out, err = run("promote", "ledger-worker", "--to", "prod", "--root", example)
    assert code == 1
    assert "environments/prod.yaml" in err and "promotion.soak" in err
    assert "less than the soak of 24h (1d); the gate passes at" in err
    assert snapshot(example) == before
    # the same tag, committed two days ago: it has soaked
    git(example, "reset", "-q", "--hard", "HEAD~1")
    edit(example, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n",
         '  staging: {tag: "3.3.0"}\n')
    commit(example, run, "ledger-worker 3.3.0 to staging", when=now - 2 * 86400)
    commit_after = now - 86400  # an unrelated later commit does not restart the clock
    edit(example, PAYMENT, "    replicas: 3\n", "    replicas: 4\n")
    commit(example, run, "unrelated", when=commit_after)
    code, out, err = run("promote", "ledger-worker", "--to", "prod", "--root", example)
    assert code == 0, err
    assert "soak: in staging since" in out and "soak 24h, passed at" in out


def test_soak_gate_skipped_is_recorded(example: Path, run: Run) -> None:
    git(example, "init", "-q", "-b", "main")
    commit(example, run, "init")
    gate(example, run, "promotion: {soak: 7d}\n")
    edit(example, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n",
         '  staging: {tag: "3.3.0"}\n')
    commit(example, run, "to staging")
    code, out, err = run("promote", "ledger-worker", "--to", "prod", "--skip-gate", "soak", "--format", "markdown",
                         "--root", example)
    assert code == 0, err
    assert "ledger-worker: gate 'soak' SKIPPED (--skip-gate soak)" in out
    assert "| ledger-worker | tag | `3.2.0` | `3.3.0` |" in out
    assert "Against the tree before the promotion.\n" in out


def test_require_digest(repo: Path, run: Run) -> None:
    gate(repo, run, "promotion: {requireDigest: true}\n")
    edit(repo, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n",
         '  staging: {tag: "3.3.0"}\n')
    commit(repo, run, "to staging")
    code, _out, err = run("promote", "ledger-worker", "--to", "prod", "--root", repo)
    assert code == 1
    assert "requires the image pinned by digest" in err
    edit(repo, "platform-config/services/ledger-worker/config.yaml", '  staging: {tag: "3.3.0"}\n',
         f'  staging: {{tag: "3.3.0", digest: "{DIGEST}"}}\n')
    commit(repo, run, "pinned in staging")
    code, _out, err = run("promote", "ledger-worker", "--to", "prod", "--root", repo)
    assert code == 0, err
    text = (repo / "platform-config/services/ledger-worker/config.yaml").read_text()
    assert f'  prod:\n    tag: "3.3.0"\n    digest: {DIGEST}\n    replicas: 4\n' in text
    overlay = (repo / "rendered/services/ledger-worker/overlays/prod/prod-us/kustomization.yaml").read_text()
    assert f"digest: {DIGEST}" in overlay


def test_gate_from_must_name_an_earlier_environment(repo: Path, run: Run) -> None:
    path = repo / "environments/prod.yaml"
    lines = len(path.read_text().splitlines())
    path.write_text(path.read_text() + "promotion:\n  from: qa\n")
    code, _out, err = run("render", "--root", repo)
    assert code == 1
    assert f"environments/prod.yaml:{lines + 2}:" in err and "promotion.from 'qa': no such environment" in err
    path.write_text(path.read_text().replace("from: qa", "soak: 3w"))
    code, _out, err = run("render", "--root", repo)
    assert code == 1
    assert f"environments/prod.yaml:{lines + 2}:" in err


# --- the round-trip edit, for every value ------------------------------------------------------------

EXAMPLE_TEXT = (Path(__file__).resolve().parent.parent / PAYMENT).read_text()
TAGS = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dev=TAGS, prod_us=TAGS, top=TAGS)
def test_round_trip_edit_changes_only_the_promoted_lines(dev: str, prod_us: str, top: str) -> None:
    edits = [Edit(PAYMENT, ("environments", "dev", "tag"), dev, 20),
             Edit(PAYMENT, ("environments", "prod", "clusters", "prod-us", "tag"), prod_us, 0),
             Edit(PAYMENT, ("tag",), top, 7)]
    try:
        new = apply_edits(EXAMPLE_TEXT, edits, ("image", "tag", "digest"))
    except EditError:
        pytest.fail("the example's file is editable")
    removed = [line for line in changed_lines(EXAMPLE_TEXT, new) if line.startswith("-")]
    added = [line for line in changed_lines(EXAMPLE_TEXT, new) if line.startswith("+")]
    assert removed == ['-tag: "1.4.2"', '-    tag: "1.5.0-rc.1"']
    assert len(added) == 3
    import yaml

    doc = yaml.safe_load(new)
    assert doc["tag"] == top and doc["environments"]["dev"]["tag"] == dev
    assert doc["environments"]["prod"]["clusters"]["prod-us"]["tag"] == prod_us
    assert doc["environments"]["prod"]["clusters"]["prod-us"]["replicas"] == 5


def test_validate_catches_a_hand_edit_into_a_gated_environment(repo: Path, run: Run) -> None:
    gate(repo, run, "promotion: {from: staging, soak: 24h}\n")
    git(repo, "switch", "-q", "-c", "hand-edit")
    # a tag typed into prod by hand: not what staging runs, never soaked there
    cfg = "platform-config/services/ledger-worker/config.yaml"
    edit(repo, cfg, "    replicas: 4\n", '    replicas: 4\n    tag: "9.9.9"\n')
    commit(repo, run, "hand edit")
    line = (repo / cfg).read_text().splitlines().index('    tag: "9.9.9"') + 1
    code, _out, err = run("validate", "--base", "main", "--root", repo)
    assert code == 1
    assert f"{cfg}:{line}:" in err
    assert "ledger-worker: a promotion into 'prod': tag 9.9.9 is not what 'staging' runs" in err
    assert "have not soaked for 24h" in err
    code, _out, err = run("validate", "--base", "main", "--skip-gate", "from", "--skip-gate", "soak", "--root", repo)
    assert code == 0, err
    assert "promotion gate skipped (--skip-gate): ledger-worker into prod: from" in err


CONFIGS = sorted((Path(__file__).resolve().parent.parent / "platform-config/services").glob("*/config.yaml"))


@settings(max_examples=30, deadline=None)
@given(config=st.sampled_from(CONFIGS), tag=TAGS, image=st.from_regex(r"\A[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}\Z"))
def test_round_trip_edit_of_any_example_config_changes_one_line_per_value(config: Path, tag: str, image: str) -> None:
    text = config.read_text()
    new = apply_edits(text, [Edit("f", ("tag",), tag, 0), Edit("f", ("image",), image, 0)], ("image", "tag"))
    changed = changed_lines(text, new)
    assert len([line for line in changed if line.startswith("-")]) == 2
    assert sorted(line[1:].split(":", 1)[0] for line in changed if line.startswith("+")) == ["image", "tag"]
    assert new.count("#") == text.count("#")  # every comment stays


def test_an_edit_through_an_alias_is_refused() -> None:
    text = "a: &x {tag: '1'}\nenvironments:\n  staging: *x\n"
    with pytest.raises(EditError, match="anchored"):
        apply_edits(text, [Edit("f", ("environments", "staging", "tag"), "2", 3)])
    text = "a: &x {replicas: 1}\nenvironments:\n  staging: {<<: *x}\n"
    with pytest.raises(EditError, match="merge key"):
        apply_edits(text, [Edit("f", ("environments", "staging", "tag"), "2", 0)])


def test_the_cli_offers_every_gate_to_skip() -> None:
    from platform_gen import cli, promote
    assert cli.PROMOTION_GATES == promote.GATES


def test_a_refusal_says_nothing_was_written_but_a_dry_run_does_not(repo: Path, run: Run) -> None:
    edit(repo, PAYMENT, "team: payments", "team: paymnts")
    for extra, tail in (((), "1 problem found; nothing was written.\n"), (("--dry-run",), "1 problem found.\n")):
        code, _out, err = run("promote", "--root", repo, "payment-service", "--to", "staging", *extra)
        assert code == 1 and "unknown team 'paymnts'" in err
        assert err.endswith(tail), err


def test_all_promotes_what_passes_the_gates_and_holds_back_the_rest(example: Path, run: Run) -> None:
    now = int(time.time())
    git(example, "init", "-q", "-b", "main")
    commit(example, run, "init", when=now - 10 * 86400)
    gate(example, run, "promotion:\n  from: staging\n  soak: 24h\n", when=now - 9 * 86400)
    soak_line = len((example / "environments/prod.yaml").read_text().splitlines())
    edit(example, "platform-config/services/ledger-worker/config.yaml", "  staging: {}\n",
         '  staging: {tag: "3.3.0"}\n')
    commit(example, run, "ledger-worker 3.3.0 to staging", when=now - 2 * 86400)  # soaked
    edit(example, PAYMENT, "  staging: {}\n", '  staging: {tag: "1.6.0"}\n')
    commit(example, run, "payment-service 1.6.0 to staging", when=now - 5 * 3600)  # not yet
    # one service alone is refused, at the line of the gate that refuses it
    code, _out, err = run("promote", "payment-service", "--to", "prod", "--root", example)
    assert code == 1 and f"environments/prod.yaml:{soak_line}:" in err and "promotion.soak" in err, err
    # --all (as the scheduled workflow runs it) promotes the others and holds it back
    code, out, err = run("promote", "--all", "--to", "prod", "--root", example)
    assert code == 0, err
    assert "ledger-worker: tag 3.2.0 -> 3.3.0" in out
    assert "held back by a gate of prod (promoted by a later run once it passes):\n" \
           "  promotion.soak: payment-service: the image and tag have been in staging since" in out
    assert 'tag: "1.6.0"' not in (example / PAYMENT).read_text().split("  staging:")[1].split("  prod:")[1]
    code, out, _err = run("promote", "--all", "--to", "prod", "--root", example, "--format", "json", "--dry-run")
    held = json.loads(out)["held"]
    assert [(h["path"], h["line"]) for h in held] == [("promotion.soak", soak_line)]


def test_validate_holds_a_change_of_source_and_target_together_to_the_from_gate(repo: Path, run: Run) -> None:
    gate(repo, run, "promotion: {from: staging}\n")
    cfg = "platform-config/services/ledger-worker/config.yaml"
    # promote's own change passes: prod gets what staging ran at the base
    edit(repo, cfg, "  staging: {}\n", '  staging: {tag: "3.3.0"}\n')
    commit(repo, run, "3.3.0 to staging")
    git(repo, "switch", "-q", "-c", "promotion")
    code, _out, err = run("promote", "ledger-worker", "--to", "prod", "--root", repo)
    assert code == 0, err
    commit(repo, run, "promote")
    code, _out, err = run("validate", "--base", "main", "--root", repo)
    assert code == 0, err
    # the top-level tag bumped: staging and prod move together, and prod's value is not what staging ran
    git(repo, "switch", "-q", "main")
    git(repo, "switch", "-q", "-c", "bump")
    edit(repo, cfg, '  staging: {tag: "3.3.0"}\n', "  staging: {}\n")
    edit(repo, cfg, 'tag: "3.2.0"\n', 'tag: "3.4.0"\n')
    commit(repo, run, "bump")
    code, _out, err = run("validate", "--base", "main", "--root", repo)
    assert code == 1
    assert "ledger-worker: a promotion into 'prod': tag 3.4.0 is not what 'staging' runs" in err, err
    assert f"{cfg}:7:6: error: tag: ledger-worker" in err  # at the line that changed it, the top level's


def test_a_flow_mapping_takes_the_new_key_on_its_own_line() -> None:
    text = ('name: a\ntag: "1.0"\nenvironments:\n  dev: {tag: "2.0"}\n  staging: {replicas: 2}   # small\n'
            "  prod:\n    replicas: 3\n")
    new = apply_edits(text, [Edit("f", ("environments", "staging", "tag"), "2.0", 0)], ["image", "tag", "digest"])
    assert changed_lines(text, new) == ["-  staging: {replicas: 2}   # small",
                                        '+  staging: {tag: "2.0", replicas: 2} # small']
