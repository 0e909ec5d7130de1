"""Command line: the only module that imports click, prints or exits.

Exit codes: 0 ok; 1 invalid input, findings or drift; 2 usage; 3 internal error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__, report
from . import report as report_mod
from .background import Background
from .errors import InputError, OutputError, PlatformGenError, Problem, ToolError
from .index import INDEX, DamagedIndex, Index, generator_digest
from .index import parse as parse_index
from .limits import MAX_SHARDS, PER_SHARD
from .load import SCHEMAS_DIR, Sources, load
from .model import Platform
from .outputs.editor import KINDS as EDITOR_KINDS
from .render import MANIFEST, Rendered, render
from .repofiles import RepoPlan, apply_repo_files, plan_repo_files
from .safety import LABEL, AtBase, guard, read_base
from .schemas import SCORECARD_LEVELS
from .validate import validate
from .write import Plan, apply, busy, check_out_dir, foreign, interrupted, lock, plan, plan_incremental, recover

if TYPE_CHECKING:
    from .shard import Shard  # (imported where a command is given --shard: a render of few services does not)

__all__ = ["main"]

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


@dataclass(frozen=True)
class Options:
    """Common flags, folded once at the edge."""

    root: Path
    out: Path | None
    fmt: str
    verbosity: int
    color: bool

    def out_dir(self, platform: Platform) -> Path:
        """The output folder: --out, else the gitops path below the root."""
        return self.out if self.out is not None else self.root / platform.gitops_path

    def shown(self, path: Path) -> str:
        """A path as shown to the user: relative to the root when inside it."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def style(self, text: str, **kw: Any) -> str:
        """Colour ``text`` if colour is on."""
        return click.style(text, **kw) if self.color else text


def _color(choice: str) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stderr is not None and not sys.stderr.closed and sys.stderr.isatty()  # (None: started closed)


def _common(f: Callable[..., int]) -> Callable[..., int]:
    """The options of the commands that read the output folder (render, validate)."""
    f = click.option("--out", type=click.Path(path_type=Path, file_okay=False),
                     help="Output folder [default: <root>/<gitops.path>, i.e. rendered].")(f)
    return _common_no_out(f)


def _output_options(f: Callable[..., int]) -> Callable[..., int]:
    f = click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
                     help="Colour the output (honours NO_COLOR).")(f)
    f = click.option("-q", "--quiet", count=True, help="Less output (repeatable).")(f)
    f = click.option("-v", "--verbose", count=True, help="More output (repeatable).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                     help="text for people, json (one document on stdout) for machines.")(f)
    return f


def _common_no_out(f: Callable[..., int]) -> Callable[..., int]:
    f = _output_options(f)
    f = click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True),
                     default=Path("."), show_default=True, help="The platform repo.")(f)
    return f


def _parse_shard(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Shard | None:
    if value is None:
        return None
    from .shard import Shard

    try:
        return Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _shard_option(text: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    return click.option("--shard", metavar="I/N", callback=_parse_shard, help=text)


def _options(root: Path, out: Path | None, fmt: str, verbose: int, quiet: int, color: str) -> Options:
    return Options(root=root, out=out, fmt=fmt, verbosity=verbose - quiet, color=_color(color))


#: The gates of an environment's ``promotion`` that --skip-gate may name (``promote.GATES``, which this module
#: does not import at start-up).
PROMOTION_GATES = ("from", "soak", "requireDigest", "immutable")

#: The commands that write files: their problem reports end saying that nothing was written.
_WRITERS = frozenset({"render", "merge", "init", "new", "schema", "promote"})


def _writes() -> bool:
    """Whether the command running would have written files (render --check and schema without --write don't)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name not in _WRITERS:
        return False
    return not ctx.params.get("check") and not ctx.params.get("dry_run") and \
        (ctx.info_name != "schema" or bool(ctx.params.get("write")))


def _emit_problems(opts: Options, problems: Sequence[Problem]) -> int:
    if opts.fmt == "json":
        click.echo(report.to_json(report.problems_json(problems)), nl=False)
    else:
        click.echo(report.problems_text(problems, opts.style, _writes()), nl=False, err=True)
    return EXIT_INVALID


def _emit_error(opts: Options, message: str, hint: str = "", status: str = "error") -> int:
    if opts.fmt == "json":
        click.echo(report.to_json({"status": status, "message": message, "hint": hint}), nl=False)
    else:
        click.echo(f"{opts.style('error', fg='red')}: {message}", err=True)
        if hint:
            click.echo(f"  {opts.style('hint', fg='cyan')}: {hint}", err=True)
    return EXIT_INVALID


def _guarded(opts: Options, body: Callable[[], int]) -> int:
    try:
        return body()
    except InputError as exc:
        return _emit_problems(opts, exc.problems)
    except DamagedIndex as exc:  # its checksum holds, so it was edited with care: nothing is guessed
        return _emit_error(opts, f"the render index ({INDEX}) of the tree cannot be read: the entry of service "
                           f"'{exc}' is damaged, although the index's checksum holds",
                           "run 'platform-gen render --full', which does not read it, and commit the result")
    except (OutputError, ToolError) as exc:
        return _emit_error(opts, exc.message, exc.hint)


def _deletion_guard(opts: Options, command: str, platform: Platform, rendered: Rendered, out_dir: Path,
                    at_base: Callable[[], AtBase | None] | None = None) -> int | None:
    """Exit 1 with the refusal when the deletion guard refuses; None when the command may go on."""
    assert rendered.index is not None
    refusal, source = guard(opts.root, out_dir, opts.shown(out_dir), platform, rendered.index, at_base)
    if opts.fmt == "text" and opts.verbosity > 0:
        click.echo(f"deletion guard: compared with {source}", err=True)
    if refusal is None:
        return None
    message = f"refusing to {command.split()[0]}: {refusal.reason}: {refusal.listed()}"
    written = "; nothing was written" if command.startswith("render") else ""  # validate writes nothing anyway
    hint = (f"compared with {refusal.source}; if that is intended, run 'platform-gen {command} --allow-delete' "
            f"(on a pull request: add the label '{LABEL}'){written}")
    if opts.fmt == "json":
        click.echo(report.to_json({
            "status": "refused", "message": message, "hint": hint, "compared_with": refusal.source,
            "removed": [{"application": r.app, "environment": r.env, "why": r.why} for r in refusal.removed],
        }), nl=False)
        return EXIT_INVALID
    return _emit_error(opts, message, hint, status="refused")


def _report_plan(opts: Options, the_plan: Plan, repo_plan: RepoPlan, shown: str, *, check: bool,
                 services: tuple[int, int] = (0, 0), index_set_aside: bool = False,
                 index_used: bool = False) -> int:
    """Print what a render did (or ``--check`` found); files that are not ours are warned about.

    ``services``: how many services were rendered, and how many were taken unchanged from the index
    (``index_used``: the tree's index was read; ``index_set_aside``: there was one, not used).
    """
    dirty = bool(the_plan.dirty or repo_plan.dirty)
    if opts.fmt == "json":
        doc = report.plan_json(the_plan, shown, check=check)
        doc["repo_files"] = dict(repo_plan.entries)
        doc["services"] = {"rendered": services[0], "unchanged": services[1]}
        if check and repo_plan.dirty:
            doc["status"] = "drift"
        click.echo(report.to_json(doc), nl=False)
        return EXIT_INVALID if check and dirty else EXIT_OK
    for rel in the_plan.unowned:
        click.echo(f"{opts.style('warning', fg='yellow')}: {shown}/{rel} is not listed in "
                   f"{shown}/{MANIFEST}: left alone", err=True)
    if the_plan.unowned:
        click.echo(f"  {opts.style('hint', fg='cyan')}: platform-gen removes only files it wrote; "
                   "delete these by hand if they are not needed", err=True)
    if opts.verbosity >= 0 or (check and dirty):
        click.echo(report.plan_text(the_plan, shown, check=check, verbosity=opts.verbosity), nl=False,
                   err=not check)
        loud = opts.verbosity > 0 or (opts.verbosity == 0 and not check)
        if services[1] and loud:
            click.echo(f"{services[0]} service(s) rendered; {services[1]} unchanged since the tree's index "
                       "(not rendered again; --full renders all)", err=not check)
        elif index_used and services[0] and loud:  # every service rendered again: say why the index kept none
            click.echo(f"{services[0]} service(s) rendered; none unchanged since the tree's index (the "
                       "platform-wide inputs they read changed, or the index differs from the one at the git "
                       "base: a render committed on this branch)", err=not check)
        elif index_set_aside and loud:
            click.echo(f"{services[0]} service(s) rendered: the tree's index was not used (not in a git "
                       "checkout or no commit yet, written by another platform-gen, edited by hand, or an "
                       "interrupted write)",
                       err=not check)
        for rel, status in repo_plan.entries:
            if status != "unchanged" or opts.verbosity > 0:
                stale = "is missing" if status == "created" else "is out of date"
                click.echo(f"{rel} {stale}: run 'platform-gen render' and commit the result" if check
                           and status != "unchanged" else f"{rel}: {status}", err=not check)
    return EXIT_INVALID if check and dirty else EXIT_OK


def _unreadable_tree(opts: Options, out_dir: Path, shown: str, only: Iterable[str] | None = None) -> int | None:
    """Exit 1 when the tree on disk cannot be judged (render --check, validate); None when it can.

    Links and FIFOs are never written by platform-gen: kustomize would follow a link out of
    the tree, and reading a FIFO would block. An interrupted write mixes two renders.
    """
    odd = foreign(out_dir, only)
    if odd:
        return _emit_error(opts, f"{shown} holds what platform-gen never writes: "
                           + ", ".join(f"{shown}/{entry}" for entry in odd),
                           "remove them and run 'platform-gen render'", status="invalid")
    if interrupted(out_dir):
        return _emit_error(opts, f"{shown} holds an interrupted write: an earlier 'platform-gen render' "
                           "was stopped half way, so the tree mixes two renders",
                           "the next 'platform-gen render' completes it", status="interrupted")
    return None


def compile_platform(root: Path) -> tuple[Platform, Rendered]:
    """load, validate and render: the shared front half of every command."""
    platform = validate(load(root))
    return platform, render(platform)


def _tree_dir(opts: Options, shared: Sources, platform: Platform | None) -> Path | None:
    """The tree's folder: from the validated ``platform``, else guessed from the raw platform.yaml
    (only to find the previous index; the guess is checked once the platform is validated)."""
    if opts.out is not None:
        return opts.out
    if platform is not None:
        return opts.out_dir(platform)
    data = shared.platform.data if shared.platform is not None else None
    gitops = data.get("gitops") if isinstance(data, dict) else None
    path = gitops.get("path", "rendered") if isinstance(gitops, dict) else None
    return opts.root / path if isinstance(path, str) and path else None


def _previous_index(out_dir: Path | None) -> Index | None:
    """The index of the tree at ``out_dir``: None when absent, unreadable, of another generator, or when
    the tree holds an interrupted write (its index may be either render's)."""
    if out_dir is None or interrupted(out_dir):
        return None
    try:
        data = (out_dir / INDEX).read_bytes()
    except OSError:
        return None
    return parse_index(data, generator_digest())


def _base_index(root: Path, out_dir: Path | None) -> Index | None:
    """The render index of the tree at ``out_dir`` as committed at the git base (the merge base with
    origin/main, else main; on main: HEAD), when this generator wrote it; None otherwise (outside git,
    no base, the tree outside the repo, no index there, another generator, a shallow clone)."""
    from .gitref import default_base, locate, read_files

    if out_dir is None:
        return None
    try:
        rel = out_dir.resolve().relative_to(root.resolve()).as_posix()
        checkout = locate(root)
        base = default_base(checkout)
        if base is None or rel in ("", "."):
            return None
        data = read_files(checkout, base.commit, (f"{rel}/{INDEX}",)).get(f"{rel}/{INDEX}")
    except (ValueError, OSError, ToolError):
        return None
    return parse_index(data, generator_digest()) if data is not None else None


def compile_validated(opts: Options, full: bool) -> tuple[Platform, Rendered]:
    """load, validate and render for ``validate``: every service whose inputs differ from those the render
    index committed at the git base records (all of them with ``full``, or without such an index).

    The base's index, not the one on disk: a service it lists was rendered, so validated, from these very
    inputs by a render whose tree the base holds; an index on disk could be edited along with a config.yaml.
    The tree's own files are not trusted from it: validate checks every byte of them with kustomize and the
    schemas (its verdict cache is keyed by those bytes), so which tree files git reports changed does not
    matter here (#9).
    """
    from .build import compile_tree

    def tree_dir(shared: Sources, platform: Platform | None) -> Path | None:
        return _tree_dir(opts, shared, platform)

    def previous(out_dir: Path | None) -> Index | None:
        return None if full else _base_index(opts.root, out_dir)

    platform, rendered, _previous = compile_tree(opts.root, tree_dir, previous, changes_of=lambda _r, _o: set(),
                                                 spare=not full)
    return platform, rendered


def compile_incremental(opts: Options, full: bool, at_base: list[Callable[[], AtBase | None]] | None = None,
                        extra: Sequence[tuple[str, bytes]] = ()) -> tuple[Platform, Rendered, Index | None]:
    """load, validate and render, re-rendering only the services whose inputs changed since the
    previous index (all of them with ``full``, or without a usable index). With ``at_base``, what the
    deletion guard reads at the git base is read too, while git is asked what changed in the tree,
    and ``at_base`` gets a function that gives it (or raises what reading it raised). ``extra``: services
    not on disk, (folder, config.yaml bytes), compiled as if they were (see ``build.compile_tree``)."""
    from .build import compile_tree
    from .gitref import tree_changes

    def tree_dir(shared: Sources, platform: Platform | None) -> Path | None:
        return _tree_dir(opts, shared, platform)

    def changes_of(root: Path, out: Path) -> set[str] | None:
        if full:
            return None
        if at_base is None:
            return tree_changes(root, out)
        # the deletion guard's files at the base are read on while the platform compiles: the guard waits
        # for them (at_base[0]() gives them, or raises what reading them raised), and so does a fork
        # (settle): a process forks with no other thread running
        reading = Background(lambda: read_base(root), "git-base")
        at_base.append(reading.result)
        return tree_changes(root, out)

    def base_index_of() -> Index | None:
        try:
            base = at_base[0]() if at_base else read_base(opts.root)
        except PlatformGenError:
            return None
        return base.parsed if base is not None else None

    def settle() -> None:
        if at_base:
            with contextlib.suppress(PlatformGenError):  # (told by the guard)
                at_base[0]()

    return compile_tree(opts.root, tree_dir, (lambda _dir: None) if full else _previous_index, changes_of=changes_of,
                        base_index_of=base_index_of, extra=extra, spare=not full, settle=settle)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="platform-gen")
def cli() -> None:
    """Compile a platform repo into the rendered tree that Argo CD pulls."""


@cli.command("render")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if the tree differs from what render would write. Files edited by hand "
                   "are found once committed or staged; an edit not yet staged only with --full, which compares "
                   "every file on disk.")
@click.option("--allow-delete", is_flag=True,
              help="Allow removing applications of protected environments, moving the tree (gitops.path), or "
                   "removing more than a quarter of all applications at once.")
@click.option("--full", is_flag=True,
              help="Render and compare every service and every file of the tree, not only what changed since "
                   "the tree's index.")
@_shard_option("Render only the services of shard I of N into a partial tree at --out (see 'merge').")
@_common
def render_cmd(check: bool, allow_delete: bool, full: bool, shard: Shard | None, root: Path, out: Path | None,
               fmt: str, verbose: int, quiet: int, color: str) -> int:
    """Render the output tree (Argo CD, Kustomize) from the platform repo."""
    opts = _options(root, out, fmt, verbose, quiet, color)
    if shard is not None:
        return _render_shard(opts, shard, check)

    def body() -> int:
        # the deletion guard's few files at the git base are read by the thread that asks git what changed
        # in the tree, while the platform compiles
        read: list[Callable[[], AtBase | None]] = []
        platform, rendered, previous = compile_incremental(opts, full, None if allow_delete else read)
        at_base = read[0] if read else None
        out_dir = opts.out_dir(platform)
        shown = opts.shown(out_dir)
        check_out_dir(opts.root, out_dir, shown)
        out_dir = out_dir.resolve()  # checked above: a link in it does not lead out of the repo
        services = (len(rendered.rendered_services), len(rendered.keep_services))
        # a tree with an index that this render did not use (and was not told to ignore)
        set_aside = previous is None and not full and (out_dir / INDEX).is_file()
        used = previous is not None and not full
        # CODEOWNERS lives outside the tree; a file platform-gen did not write is refused before any write
        repo_plan = plan_repo_files(opts.root, rendered.repo_files)

        def the_plan() -> Plan:
            if previous is None:
                return plan(out_dir, rendered.files, shown)
            return plan_incremental(out_dir, rendered.files, rendered.keep, previous.owned(but=rendered.keep_services),
                                    shown)

        if check:
            holder = busy(out_dir)
            if holder is not None:
                return _emit_error(opts, f"{shown} is being written by a platform-gen render"
                                   + (f" (pid {holder})" if holder else "") + " right now",
                                   "run the check again when it has finished", status="busy")
            unreadable = _unreadable_tree(opts, out_dir, shown, None if previous is None else rendered.files)
            if unreadable is not None:
                return unreadable
            if not allow_delete:  # a tree rendered with --allow-delete must not pass CI without it
                refused = _deletion_guard(opts, "render --check", platform, rendered, out_dir, at_base)
                if refused is not None:
                    return refused
            return _report_plan(opts, the_plan(), repo_plan, shown, check=True, services=services,
                                index_set_aside=set_aside, index_used=used)
        with lock(out_dir, shown):  # a second render refuses, naming this one's pid
            completed = recover(out_dir, shown)
            if completed and opts.verbosity >= 0:
                click.echo(f"completed an interrupted write of {shown} ({completed} step(s))", err=True)
            if completed and previous is not None:  # the index read before may be either render's
                platform, rendered, previous = compile_incremental(opts, True)
            if not allow_delete:
                refused = _deletion_guard(opts, "render", platform, rendered, out_dir, at_base)
                if refused is not None:
                    return refused
            plan_now = the_plan()
            if plan_now.dirty:
                apply(out_dir, rendered.files, plan_now, shown)
            apply_repo_files(opts.root, rendered.repo_files, repo_plan)
        return _report_plan(opts, plan_now, repo_plan, shown, check=False, services=services,
                            index_set_aside=set_aside, index_used=used)

    return _guarded(opts, body)


@cli.command("explain")
@click.argument("service")
@click.argument("env")
@click.argument("cluster", required=False)
@_common_no_out
def explain_cmd(service: str, env: str, cluster: str | None, root: Path, fmt: str,
                verbose: int, quiet: int, color: str) -> int:
    """Show a service's effective values in ENV (and CLUSTER) with the file and line that set each."""
    opts = _options(root, None, fmt, verbose, quiet, color)

    def body() -> int:
        from .schemas import did_you_mean

        platform, rendered = compile_platform(opts.root)
        names = {s.name for s in platform.services}
        if service not in names:
            return _emit_error(opts, f"unknown service '{service}'", did_you_mean(service, names, "services"))
        svc = next(s for s in platform.services if s.name == service)
        if env not in svc.placements:
            return _emit_error(opts, f"service '{service}' does not run in environment '{env}'",
                               did_you_mean(env, set(svc.placements), f"environments of {service}"))
        clusters = svc.placements[env]
        if cluster is not None and cluster not in clusters:
            return _emit_error(opts, f"service '{service}' does not run on cluster '{cluster}' in '{env}'",
                               did_you_mean(cluster, set(clusters), f"clusters of {service} in {env}"))
        targets = [t for t in rendered.targets if t.service.name == service and t.env.name == env
                   and (cluster is None or t.cluster.name == cluster)]
        if opts.fmt == "json":
            click.echo(report.to_json(report.explain_json(targets)), nl=False)
        else:
            click.echo(report.explain_text(targets, opts.style), nl=False)
        return EXIT_OK

    return _guarded(opts, body)


@cli.command("scorecard")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              help="text for terminals, json for dashboards, markdown for a pull-request comment or a README.")
@click.option("--min-level", type=click.Choice(list(SCORECARD_LEVELS)), metavar="LEVEL",
              help="Exit 1 when a service is below LEVEL (bronze, silver or gold), as in CI.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True), default=Path("."),
              show_default=True, help="The platform repo.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              help="Colour the output (honours NO_COLOR).")
def scorecard_cmd(fmt: str, min_level: str | None, root: Path, color: str) -> int:
    """Measure the platform: golden-path adoption, each service's maturity checks and level, totals per team."""
    opts = _options(root, None, "json" if fmt == "json" else "text", 0, 0, color)

    def body() -> int:
        from .load import load_docs
        from .scaffold import shipped_templates
        from .scorecard import measure

        platform, rendered = compile_platform(opts.root)
        docs = load_docs(opts.root, [s.name for s in platform.services])
        card = measure(platform, rendered.files, rendered.targets, docs, shipped_templates())
        if min_level is not None and min_level not in card.names:
            raise click.BadParameter(f"the platform declares no level '{min_level}' (its levels: "
                                     f"{', '.join(card.names) or 'none'}; see scorecard.levels in "
                                     "platform-config/platform.yaml)", param_hint="'--min-level'")
        if fmt == "json":
            text = report.to_json(report.scorecard_json(card, min_level))
        elif fmt == "markdown":
            text = report.scorecard_markdown(card, min_level)
        else:
            text = report.scorecard_text(card, opts.style, min_level)
        click.echo(text, nl=False, color=opts.color)
        return EXIT_INVALID if min_level is not None and card.below(min_level) else EXIT_OK

    return _guarded(opts, body)


@cli.command("schema")
@click.argument("kind", required=False, type=click.Choice(list(EDITOR_KINDS)))
@click.option("--write", is_flag=True,
              help="Write all three schemas into <root>/schemas/ (creating the folder); from then on 'render' "
                   "keeps them current and 'render --check' fails when they are not.")
@_common_no_out
def schema_cmd(kind: str | None, write: bool, root: Path, fmt: str, verbose: int, quiet: int, color: str) -> int:
    """Print the editor schema (JSON Schema, draft 2020-12) of a service's config.yaml, of platform.yaml or of an
    environment file; or write all three into schemas/ with --write."""
    opts = _options(root, None, fmt, verbose, quiet, color)
    if kind is None and not write:
        raise click.UsageError("name a schema (config, platform or environment), or pass --write")
    if kind is not None and write:
        raise click.UsageError("--write writes all three schemas: leave out the name")

    def body() -> int:
        from .load import load_shared
        from .outputs import editor

        # the schemas depend on the inputs every service shares only: services are not read
        platform = validate(load_shared(opts.root), cross=False)
        if kind is not None:
            click.echo(editor.dump(editor.editor_schema(kind, platform)).decode("utf-8"), nl=False)
            return EXIT_OK
        files = editor.editor_schema_files(platform)
        repo_plan = plan_repo_files(opts.root, files)
        apply_repo_files(opts.root, files, repo_plan)
        if opts.fmt == "json":
            click.echo(report.to_json({"status": "ok", "repo_files": dict(repo_plan.entries)}), nl=False)
        elif opts.verbosity >= 0:
            for rel, status in repo_plan.entries:
                if status != "unchanged" or opts.verbosity > 0:
                    click.echo(f"{rel}: {status}", err=True)
            if not repo_plan.dirty:
                click.echo(f"the editor schemas in {SCHEMAS_DIR}/ are up to date", err=True)
        return EXIT_OK

    return _guarded(opts, body)


@cli.command("validate")
@click.option("--kustomize", "kustomize_path", metavar="PATH",
              help="kustomize or kubectl binary [default: kustomize on the PATH, else kubectl kustomize].")
@click.option("--kube-version", default="1.32", show_default=True, help="Kubernetes version of the schemas.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=max(1, min(4, os.cpu_count() or 1)),
              show_default=True, help="Parallel kustomize builds.")
@click.option("--allow-delete", is_flag=True,
              help="Skip the deletion guard, as 'render --allow-delete' does.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Verdicts of overlays and files already validated [default: <root>/.cache/platform-gen/validate].")
@click.option("--no-cache", is_flag=True,
              help="Build and check every overlay and file of the tree again; read and write no cache.")
@click.option("--lint-tree", is_flag=True,
              help="Run yamllint over the rendered tree too, not only over the input files.")
@click.option("--full", is_flag=True,
              help="Validate and render the inputs of every service, not only those that differ from what the "
                   "render index committed at the git base records.")
@click.option("--base", "base_ref", metavar="REF",
              help="Check the promotion gates of what changed since REF [default: merge base with origin/main, "
                   "else main].")
@click.option("--skip-gate", "skip_gates", multiple=True, metavar="NAME",
              type=click.Choice(PROMOTION_GATES),
              help="Skip a promotion gate (repeatable); recorded in the output.")
@_shard_option("Validate only the overlays and files of the services of shard I of N (shard 1: also the "
               "platform-wide files); no deletion guard.")
@_common
def validate_cmd(kustomize_path: str | None, kube_version: str, jobs: int, allow_delete: bool,
                 cache_dir: Path | None, no_cache: bool, lint_tree: bool, full: bool, base_ref: str | None,
                 skip_gates: tuple[str, ...], shard: Shard | None, root: Path,
                 out: Path | None, fmt: str, verbose: int, quiet: int, color: str) -> int:
    """Validate the inputs (yamllint included), then the rendered tree with kustomize and the Kubernetes,
    Argo CD and Crossplane schemas."""
    opts = _options(root, out, fmt, verbose, quiet, color)

    def body() -> int:
        from importlib import resources

        from .consumers import validate_tree
        from .kustomize_tool import find_kustomize
        from .load import load_yamllint_config, yaml_inputs

        platform, rendered = compile_validated(opts, full) if shard is None else _compile_shard(opts, shard)
        out_dir = opts.out_dir(platform)
        shown = opts.shown(out_dir)
        if not (out_dir / MANIFEST).is_file():
            return _emit_error(opts, f"no rendered tree at {shown}", "run 'platform-gen render' first")
        unreadable = _unreadable_tree(opts, out_dir.resolve(), shown)
        if unreadable is not None:
            return unreadable
        if not allow_delete and shard is None:  # the guard needs every service: merge and render apply it
            refused = _deletion_guard(opts, "validate", platform, rendered, out_dir)
            if refused is not None:
                return refused
        kustomize = find_kustomize(kustomize_path)
        config = (load_yamllint_config(opts.root)
                  or (resources.files("platform_gen") / "data" / "yamllint.yaml").read_text(encoding="utf-8"))
        cache = None if no_cache else (cache_dir or opts.root / ".cache" / "platform-gen" / "validate")
        inputs, unreadable_inputs = yaml_inputs(opts.root)
        if shard is not None:  # each input is linted by one shard only: no finding N times, no work N times
            inputs = [(rel, data) for rel, data in inputs if shard.owns_input(rel)]
            unreadable_inputs = [p for p in unreadable_inputs if shard.owns_input(p.file)]
        report = validate_tree(platform, out_dir, shown, kustomize, kube_version, config, jobs, cache,
                               [(rel, rel, data) for rel, data in inputs], lint_tree, only=shard)
        gated, skipped = ([], []) if shard is not None and shard.index != 1 else \
            _gate_check(opts.root, platform, base_ref, skip_gates)
        report = dataclasses.replace(report, problems=tuple(sorted({*report.problems, *unreadable_inputs,
                                                                    *gated})))
        where = f"{shown} (shard {shard})" if shard else shown
        summary = (f"validated {where}: {report.overlays} overlays ({report.cached} cached) "
                   f"in {report.builds} kustomize builds "
                   f"({kustomize.name}), {report.objects} objects against Kubernetes "
                   f"{kube_version}, Argo CD, Crossplane, Backstage and vendored CRD schemas; yamllint over "
                   f"{report.linted + report.lint_cached} files ({report.lint_cached} cached) of the inputs"
                   + (" and the tree" if lint_tree else ""))
        if opts.fmt == "json":
            doc = report_mod.problems_json(report.problems, "invalid" if report.problems else "ok")
            doc.update({"overlays": report.overlays, "objects": report.objects, "builds": report.builds,
                        "built": report.built, "cached": report.cached,
                        "linted": report.linted, "lint_cached": report.lint_cached,
                        "lint_scope": "inputs+tree" if lint_tree else "inputs",
                        # services whose inputs were validated and rendered again, and those the base's index
                        # records with the same inputs (not again; --full does every one)
                        "services": {"rendered": len(rendered.rendered_services),
                                     "unchanged": len(rendered.keep_services)},
                        "skipped_gates": skipped})
            click.echo(report_mod.to_json(doc), nl=False)
        else:
            if report.problems:
                click.echo(report_mod.problems_text(report.problems, opts.style, writes=False), nl=False, err=True)
            for what in skipped:
                click.echo(f"{opts.style('warning', fg='yellow')}: promotion gate skipped (--skip-gate): {what}",
                           err=True)
            if opts.verbosity >= 0:
                click.echo(summary + (f": {len(report.problems)} finding(s)" if report.problems else ": ok"),
                           err=True)
        return EXIT_INVALID if report.problems else EXIT_OK

    return _guarded(opts, body)


@cli.command("diff")
@click.option("--base", "base_ref", metavar="REF",
              help="Compare with the tree rendered at REF [default: merge base with origin/main, else main].")
@click.option("--kustomize", "kustomize_path", metavar="PATH", help="kustomize or kubectl binary to build with.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              help="text for terminals, markdown for a pull-request comment, json for machines.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True), default=Path("."),
              show_default=True, help="The platform repo (inside a git checkout).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              help="Colour the output (honours NO_COLOR).")
@click.option("--full", is_flag=True,
              help="Render both sides in full instead of reusing the tree committed at REF (same result, slower).")
def diff_cmd(base_ref: str | None, kustomize_path: str | None, fmt: str, root: Path, color: str, full: bool) -> int:
    """Show what the working tree changes in the rendered tree, against a git REF."""
    from .diff import run_diff

    opts = _options(root, None, "json" if fmt == "json" else "text", 0, 0, color)

    def body() -> int:
        code, text = run_diff(opts.root, base_ref, fmt, kustomize_path, color=opts.color, full=full)
        click.echo(text, nl=False, color=opts.color)
        return code

    return _guarded(opts, body)


# --- promotion (promote.py, README "Promoting a release", issue 13) ---------------------------------


def _compile_edited(root: Path, edited: dict[str, bytes]) -> tuple[Platform, Rendered]:
    """load, validate and render ``root`` as if the services' config.yaml files in ``edited`` (folder -> bytes)
    held those bytes: nothing is read from them on disk, and nothing is written."""
    from .index import blob_id
    from .load import SERVICES_DIR, load_services, parse_services

    shared = load_shared_inputs(root)
    found = load_services(root, shared, parse=False)
    raw = tuple((folder, edited.get(folder, data)) for folder, data in found.raw)
    digests = {**found.digests, **{f"{SERVICES_DIR}/{f}/config.yaml": blob_id(d) for f, d in edited.items()}}
    parsed = parse_services(dataclasses.replace(found, problems=(), digests=digests), raw)
    sources = dataclasses.replace(parsed, problems=(*found.problems, *parsed.problems))
    platform = validate(sources)
    return platform, render(platform)


def load_shared_inputs(root: Path) -> Sources:
    """Every input but the services' config.yaml files (see ``load.load_shared``)."""
    from .load import load_shared

    return load_shared(root)


def _source_values(platform: Platform, names: Iterable[str], source: str) -> dict[str, dict[str, Any]]:
    """Service -> its values in ``source`` (on its first cluster there), for the services that run there."""
    from .merge import layers_of, merge_values

    by_name = {s.name: s for s in platform.services}
    return {name: merge_values(layers_of(platform, by_name[name], source, by_name[name].placements[source][0]))
            for name in names if source in by_name[name].placements}


def _soak_evidence(root: Path, platform: Platform, wanted: dict[str, dict[str, Any]], source: str) -> dict[str, Any]:
    """Service -> since when the image, tag and digest of ``wanted`` are in ``source``'s rendered overlays, on
    the first-parent history of HEAD (git, no network)."""
    import yaml as pyyaml

    from .gitref import first_seen
    from .promote import Evidence

    out: dict[str, Any] = {}
    for name, values in sorted(wanted.items()):
        want = (str(values.get("image", "")), str(values.get("tag", "")), str(values.get("digest") or ""))

        def carries(files: dict[str, bytes], want: tuple[str, str, str] = want) -> bool:
            overlays = [data for rel, data in files.items() if rel.endswith("/kustomization.yaml")]
            for data in overlays:
                try:
                    doc = pyyaml.safe_load(data)
                    image = (doc.get("images") or [{}])[0]
                except (pyyaml.YAMLError, AttributeError, IndexError, TypeError):
                    return False
                got = (str(image.get("newName") or image.get("name") or ""), str(image.get("newTag") or ""),
                       str(image.get("digest") or ""))
                if got != want:
                    return False
            return bool(overlays)

        try:
            seen = first_seen(root, f"{platform.gitops_path}/services/{name}/overlays/{source}", carries)
        except ToolError:
            seen = None
        out[name] = Evidence(seen[0], seen[1]) if seen is not None else Evidence(None)
    return out


def _promotion_json(the_plan: Any, written: bool, dry_run: bool) -> dict[str, Any]:
    return {
        "source": the_plan.source, "target": the_plan.target, "dry_run": dry_run, "written": written,
        "services": [{
            "service": p.service,
            "changes": [{"key": c.key, "before": {cl: v for cl, v in c.before}, "after": c.after} for c in p.changes],
            "edits": [{"file": e.file, "key": ".".join(e.path), "line": e.line, "value": e.value} for e in p.edits],
            "skipped_gates": list(p.skipped), "soak": p.soaked,
        } for p in the_plan.promotions],
        # with --all: the services a gate holds back, and why
        "held": report.problems_json(the_plan.held)["problems"] if the_plan.held else [],
    }


def _promotion_text(the_plan: Any, markdown: bool) -> str:
    lines: list[str] = []
    changed = [p for p in the_plan.promotions if p.changes]
    same = [p.service for p in the_plan.promotions if not p.changes]
    head = f"Promote {len(changed)} service(s) from {the_plan.source} to {the_plan.target}"
    lines.append(f"## {head}" if markdown else head)
    if markdown and changed:
        lines += ["", "| service | key | before | after |", "|---|---|---|---|"]
    def shown(value: Any) -> str:
        return "(none)" if value is None else str(value)

    for p in changed:
        for c in p.changes:
            before = ", ".join(sorted({shown(v) for _cl, v in c.before}))
            if markdown:
                lines.append(f"| {p.service} | {c.key} | `{before}` | `{c.after}` |")
            else:
                lines.append(f"  {p.service}: {c.key} {before} -> {c.after}")
    for p in changed:
        if p.soaked:
            lines.append(f"{'- ' if markdown else '  '}{p.service}: soak: {p.soaked}")
        for gate in p.skipped:
            lines.append(f"{'- ' if markdown else '  '}{p.service}: gate '{gate}' SKIPPED (--skip-gate {gate})")
    if same:
        lines.append(("" if not markdown else "\n") + f"already in {the_plan.target}, nothing to write: "
                     + ", ".join(same))
    if the_plan.held:
        lines.append(("" if not markdown else "\n") + "held back by a gate of "
                     f"{the_plan.target} (promoted by a later run once it passes):")
        for p in the_plan.held:
            lines.append(f"{'- ' if markdown else '  '}{p.path}: {p.message}")
    return "\n".join(lines) + "\n"


@cli.command("promote")
@click.argument("services", nargs=-1)
@click.option("--to", "to_env", required=True, metavar="ENV", help="The environment to promote into.")
@click.option("--from", "from_env", metavar="ENV",
              help="The environment to promote from [default: the one before --to in promotion order].")
@click.option("--all", "every", is_flag=True, help="Every service that runs in both and differs.")
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--force", is_flag=True, help="Promote against the promotion order (such as prod to dev).")
@click.option("--allow-dirty", is_flag=True, help="Promote even when the rendered tree is not current.")
@click.option("--skip-gate", "skip_gates", multiple=True, metavar="NAME",
              type=click.Choice(PROMOTION_GATES),
              help="Skip a gate of the target environment (repeatable); recorded in the output.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              help="text for terminals, markdown for a pull request's body, json for machines.")
@click.option("--kustomize", "kustomize_path", metavar="PATH", help="kustomize or kubectl binary to build with.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True), default=Path("."),
              show_default=True, help="The platform repo.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              help="Colour the output (honours NO_COLOR).")
def promote_cmd(services: tuple[str, ...], to_env: str, from_env: str | None, every: bool, dry_run: bool,
                force: bool, allow_dirty: bool, skip_gates: tuple[str, ...], fmt: str, kustomize_path: str | None,
                root: Path, color: str) -> int:
    """Copy the promotable values (image, tag, digest) of SERVICES from one environment into the next, render,
    and show what the promotion changes. All or nothing: refused, nothing is written."""
    import time

    from .diff import FORMATTERS, compare, kustomize_builder
    from .diff import _tree as diff_tree
    from .gitref import Base
    from .load import SERVICES_DIR
    from .promote import EditError, apply_edits, default_source, plan_promotion
    from .schemas import did_you_mean

    opts = _options(root, None, "json" if fmt == "json" else "text", 0, 0, color)

    def body() -> int:
        if not services and not every:
            raise click.UsageError("name the services to promote, or --all")
        if services and every:
            raise click.UsageError("give service names or --all, not both")
        platform, rendered = _compile_edited(opts.root, {})
        envs = {e.name for e in platform.environments}
        for env in (to_env, from_env):
            if env is not None and env not in envs:
                return _emit_error(opts, f"unknown environment '{env}'", did_you_mean(env, envs, "environments"))
        names = {s.name for s in platform.services}
        for name in services:
            if name not in names:
                return _emit_error(opts, f"unknown service '{name}'", did_you_mean(name, names, "services"))
        gates = platform.env(to_env).gates
        source = from_env or (gates.source if gates is not None and gates.source else None) \
            or default_source(platform, to_env)
        if source is None:
            return _emit_error(opts, f"'{to_env}' is the first environment: there is nothing to promote from",
                               "give --from")
        if source == to_env:
            return _emit_error(opts, f"--from and --to are both '{to_env}'")
        out_dir = opts.out_dir(platform)
        shown = opts.shown(out_dir)
        if not allow_dirty:  # what render --check would fail
            current = (out_dir / MANIFEST).is_file() and not plan(out_dir, rendered.files, shown).dirty \
                and not plan_repo_files(opts.root, rendered.repo_files).dirty
            if not current:
                return _emit_error(opts, f"the tree at {shown}/ is not current with the inputs ('platform-gen "
                                   "render --check' fails); nothing was written",
                                   "run 'platform-gen render' and commit the result first, or --allow-dirty",
                                   status="refused")
        chosen = sorted(names) if every else list(services)
        target = platform.env(to_env)
        evidence = None
        if target.gates is not None and target.gates.soak_seconds:
            evidence = _soak_evidence(opts.root, platform, _source_values(platform, chosen, source), source)
        the_plan = plan_promotion(platform, chosen, to_env, source, every=every, force=force, skip=skip_gates,
                                  evidence=evidence, now=int(time.time()))
        if the_plan.refusals:
            if opts.fmt == "json":
                click.echo(report.to_json(report.problems_json(the_plan.refusals, "refused")), nl=False)
                return EXIT_INVALID
            _emit_problems(opts, the_plan.refusals)
            click.echo("promotion refused; nothing was written", err=True)
            return EXIT_INVALID
        edited: dict[str, bytes] = {}
        for rel, edits in the_plan.edits.items():
            text = (opts.root / rel).read_text(encoding="utf-8")
            try:
                edited[rel] = apply_edits(text, edits, platform.promotion_keys).encode("utf-8")
            except EditError as exc:
                return _emit_error(opts, f"{rel}: cannot promote without reformatting it: {exc}; nothing was "
                                   "written", "set the value by hand", status="refused")
        folders = {rel.split("/")[-2]: data for rel, data in edited.items() if rel.startswith(SERVICES_DIR + "/")}
        new_platform, new_rendered = _compile_edited(opts.root, folders)
        promoted = {p.service for p in the_plan.promotions if p.changes}
        base = Base(ref="the tree before the promotion", commit="", merge_base=False)
        owners = {s.name: s.team for s in platform.services}
        before = {f: b for f, b in rendered.files.items()}
        result = compare(diff_tree(platform, dict(sorted(before.items())), owners),
                         diff_tree(new_platform, dict(sorted(new_rendered.files.items())), owners),
                         kustomize_builder(kustomize_path), base)
        result = dataclasses.replace(result, apps=tuple(a for a in result.apps if a.app.service in promoted))
        if edited and not dry_run:
            check_out_dir(opts.root, out_dir, shown)
            repo_plan = plan_repo_files(opts.root, new_rendered.repo_files)
            originals = {rel: (opts.root / rel).read_bytes() for rel in edited}
            with lock(out_dir.resolve(), shown):
                recover(out_dir.resolve(), shown)
                try:
                    for rel, data in edited.items():
                        _replace_file(opts.root / rel, data)
                    tree_plan = plan(out_dir.resolve(), new_rendered.files, shown)
                    if tree_plan.dirty:
                        apply(out_dir.resolve(), new_rendered.files, tree_plan, shown)
                    apply_repo_files(opts.root, new_rendered.repo_files, repo_plan)
                except BaseException:
                    for rel, data in originals.items():  # all or nothing: the inputs as they were
                        _replace_file(opts.root / rel, data)
                    raise
        written = bool(edited) and not dry_run
        if fmt == "json":
            doc = _promotion_json(the_plan, written, dry_run)
            doc["status"] = "ok"
            doc["diff"] = json.loads(FORMATTERS["json"](result, False))
            click.echo(report.to_json(doc), nl=False)
            return EXIT_OK
        click.echo(_promotion_text(the_plan, fmt == "markdown"), nl=False)
        if promoted:
            click.echo("", nl=True)
            click.echo(FORMATTERS[fmt](result, opts.color), nl=False, color=opts.color)
        if fmt == "text":
            what = ("would write " if dry_run else "wrote ") + ", ".join(sorted(edited)) if edited else \
                "nothing to write"
            click.echo(what + ("; rendered into " + shown if written else ""), err=True)
        return EXIT_OK

    return _guarded(opts, body)


def _gate_check(root: Path, platform: Platform, base_ref: str | None,
                skip: Sequence[str]) -> tuple[list[Problem], list[str]]:
    """The promotion gates that what changed since ``base_ref`` (default: the git base) fails, and the gates
    skipped: a hand edit into a gated environment is held to the gates promote applies. Nothing to check
    (and git is not asked) when no environment has gates; outside git, or without a base, nothing either."""
    import shutil
    import tempfile
    import time

    from .diff import INPUT_DIRS
    from .gitref import default_base, export_inputs, locate, resolve_base
    from .promote import gate_problems, gated_changes

    if not any(e.gates is not None for e in platform.environments):
        return [], []
    # validate's platform may hold only the services it rendered again; every one is compared here
    platform = validate(load(root))
    try:
        checkout = locate(root)
        base = resolve_base(checkout, base_ref) if base_ref is not None else default_base(checkout)
    except ToolError:
        if base_ref is not None:
            raise
        return [], []
    if base is None:
        return [], []
    tmp = Path(tempfile.mkdtemp(prefix="platform-gen-gates-"))
    try:
        base_root = export_inputs(checkout, base.commit, INPUT_DIRS, tmp)
        try:
            before = validate(load(base_root)) if base_root is not None else None
        except InputError:
            before = None  # an invalid base: nothing to compare with
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    changes = gated_changes(before, platform)
    evidence: dict[str, Any] = {}
    for change in changes:
        if change.target.gates is not None and change.target.gates.soak_seconds:
            evidence.update(_soak_evidence(root, platform, {change.service.name: change.values}, change.source))
    return gate_problems(changes, evidence, int(time.time()), skip)


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename."""
    tmp = path.with_name(f".{path.name}.platform-gen-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- sharding (see shard.py and the README's "Sharding") -------------------------------------------


def _compile_shard(opts: Options, shard: Shard) -> tuple[Platform, Rendered]:
    from .build import compile_tree

    def tree_dir(shared: Sources, platform: Platform | None) -> Path | None:
        return _tree_dir(opts, shared, platform)

    platform, rendered, _previous = compile_tree(opts.root, tree_dir, lambda _dir: None, only=shard.has)
    return platform, rendered


def _render_shard(opts: Options, shard: Shard, check: bool) -> int:
    """render --shard: the partial tree of one shard into --out (checked, locked, written all or nothing)."""
    if check:
        raise click.UsageError("--shard and --check do not go together: check the merged tree "
                               "('platform-gen render --check')")
    if opts.out is None:
        raise click.UsageError("--shard writes a partial tree: pass --out DIR, a folder of its own")
    out_dir = opts.out

    def body() -> int:
        from .shard import partial_files

        platform, rendered = _compile_shard(opts, shard)
        files = partial_files(platform, rendered, shard)
        shown = opts.shown(out_dir)
        # not 'rendered', which holds the whole tree: a shard refuses that folder
        example = f"shard-{shard.index}"
        check_out_dir(opts.root, out_dir, shown, example)
        if (out_dir / INDEX).exists():
            raise OutputError(f"{shown} holds a whole tree (it has {INDEX}); a partial tree goes into a "
                              "folder of its own", f"pass --out an empty folder, such as {example}")
        resolved = out_dir.resolve()
        with lock(resolved, shown):
            recover(resolved, shown)
            plan_now = plan(resolved, files, shown)
            if plan_now.dirty:
                apply(resolved, files, plan_now, shown)
        count = len(rendered.rendered_services)
        if opts.fmt == "json":
            doc = report.plan_json(plan_now, shown, check=False)
            doc.update({"shard": str(shard), "services": list(rendered.rendered_services)})
            click.echo(report.to_json(doc), nl=False)
        elif opts.verbosity >= 0:
            click.echo(report.plan_text(plan_now, shown, check=False, verbosity=opts.verbosity), nl=False, err=True)
            click.echo(f"shard {shard}: {count} service(s) rendered into {shown}; run 'platform-gen merge' "
                       "over every shard's folder", err=True)
        return EXIT_OK

    return _guarded(opts, body)


@cli.command("merge")
@click.argument("partials", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--allow-delete", is_flag=True, help="Skip the deletion guard, as 'render --allow-delete' does.")
@_common
def merge_cmd(partials: tuple[Path, ...], allow_delete: bool, root: Path, out: Path | None, fmt: str,
              verbose: int, quiet: int, color: str) -> int:
    """Assemble the tree from the partial trees of 'render --shard I/N' (one folder per shard) and write it
    as render does."""
    opts = _options(root, out, fmt, verbose, quiet, color)

    def body() -> int:
        from .shard import merge, read_partial

        read, problems = [], []
        for folder in partials:
            try:
                read.append(read_partial(folder, opts.shown(folder)))
            except InputError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InputError(problems)
        platform, rendered = merge(opts.root, read)
        out_dir = opts.out_dir(platform)
        shown = opts.shown(out_dir)
        check_out_dir(opts.root, out_dir, shown)
        out_dir = out_dir.resolve()
        if any(folder.resolve() == out_dir for folder in partials):
            raise OutputError(f"{shown} is one of the partial trees; the merged tree goes elsewhere",
                              "pass --out the tree's folder (default: gitops.path)")
        repo_plan = plan_repo_files(opts.root, rendered.repo_files)
        with lock(out_dir, shown):
            completed = recover(out_dir, shown)
            if completed and opts.verbosity >= 0:
                click.echo(f"completed an interrupted write of {shown} ({completed} step(s))", err=True)
            if not allow_delete:
                refused = _deletion_guard(opts, "merge", platform, rendered, out_dir)
                if refused is not None:
                    return refused
            plan_now = plan(out_dir, rendered.files, shown)
            if plan_now.dirty:
                apply(out_dir, rendered.files, plan_now, shown)
            apply_repo_files(opts.root, rendered.repo_files, repo_plan)
        return _report_plan(opts, plan_now, repo_plan, shown, check=False,
                            services=(len(rendered.rendered_services), 0))

    return _guarded(opts, body)


@cli.command("shards")
@click.option("--base", "base_ref", metavar="REF",
              help="Count the services changed since the tree committed at REF [default: the tree on disk].")
@click.option("--per-shard", type=click.IntRange(1), default=PER_SHARD, show_default=True,
              help="Changed services per shard.")
@click.option("--max-shards", type=click.IntRange(1, MAX_SHARDS), default=MAX_SHARDS, show_default=True,
              help="At most this many shards.")
@_common_no_out  # it writes nothing: the tree compared with is the one at gitops.path (or at --base)
def shards_cmd(base_ref: str | None, per_shard: int, max_shards: int, root: Path, fmt: str,
               verbose: int, quiet: int, color: str) -> int:
    """Plan a sharded render: how many services changed, and how many shards to use (JSON: the matrix)."""
    opts = _options(root, None, fmt, verbose, quiet, color)

    def body() -> int:
        from .gitref import locate, read_files, resolve_base
        from .load import load_shared
        from .shard import plan_shards

        tree = _tree_dir(opts, load_shared(opts.root), None)
        index: bytes | None = None
        if tree is not None and base_ref is not None:
            checkout = locate(opts.root)
            rel = f"{opts.shown(tree)}/{INDEX}"
            index = read_files(checkout, resolve_base(checkout, base_ref).commit, (rel,)).get(rel)
        elif tree is not None:
            try:
                index = (tree / INDEX).read_bytes()
            except OSError:
                index = None
        the_plan = plan_shards(opts.root, index, per_shard, max_shards)
        if opts.fmt == "json":
            click.echo(report.to_json({"status": "ok", **the_plan.to_json()}), nl=False)
        else:
            click.echo(f"{the_plan.changed} of {the_plan.services} service(s) changed: {the_plan.shards} shard(s)")
        return EXIT_OK

    return _guarded(opts, body)

# --- init and new (scaffold.py; README "Starting a platform", "Starting a new service") ------------


def _interactive() -> bool:
    """Whether to ask for what is missing: only with a terminal on stdin, never in CI or a pipe."""
    return sys.stdin is not None and sys.stdin.isatty()


def _checked(why: Callable[[str], str | None]) -> Callable[[str], str]:
    """A prompt's value_proc: the answer, or the reason it is refused (click asks again)."""
    def check(value: str) -> str:
        value = value.strip()
        reason = why(value)
        if reason is not None:
            raise click.BadParameter(reason)
        return value
    return check


def _steps_text(opts: Options, headline: str, steps: Sequence[str]) -> None:
    if opts.verbosity < 0:
        return
    click.echo(headline)
    click.echo("Next steps:")
    for step in steps:
        click.echo(f"  {step}")


@cli.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--organization", metavar="ORG",
              help="The organization (platform.yaml's organization) [asked in a terminal; required otherwise].")
@click.option("--repo-url", metavar="URL",
              help="The Git repository Argo CD pulls the rendered tree from [default: the folder's git remote "
                   "origin, else https://github.com/ORG/DIRECTORY.git].")
@_output_options
def init_cmd(directory: Path, organization: str | None, repo_url: str | None, fmt: str, verbose: int, quiet: int,
             color: str) -> int:
    """Start a platform repo in DIRECTORY (empty, or holding only .git): platform.yaml, environments, the
    golden paths, the Crossplane APIs, workflows and hooks; then render it."""
    from .gitref import origin_url
    from .scaffold import (
        create,
        default_repo_url,
        not_empty,
        organization_problem,
        repo_url_problem,
        starter_files,
        undo_init,
    )

    opts = _options(directory, None, fmt, verbose, quiet, color)
    shown = str(directory)

    def body() -> int:
        if directory.exists() and not directory.is_dir():
            return _emit_error(opts, f"{shown} is not a folder", "pass the folder for the new platform repo")
        taken = not_empty(directory)
        if taken:
            listed = ", ".join(taken[:5]) + (f" and {len(taken) - 5} more" if len(taken) > 5 else "")
            return _emit_error(opts, f"{shown} is not empty: it holds {listed}; nothing was written",
                               "init starts a platform repo in an empty folder (one holding only .git is fine): "
                               "pass a new folder", status="refused")
        ask = _interactive()
        org = organization
        if org is None:
            if not ask:
                raise click.UsageError("missing option '--organization' (there is no terminal to ask on)")
            org = str(click.prompt("Organization (lower-case letters, digits and -)", err=True,
                                   value_proc=_checked(organization_problem)))
        elif (why := organization_problem(org)) is not None:
            raise click.BadParameter(why, param_hint="'--organization'")
        url = repo_url
        if url is None:
            default = default_repo_url(org, directory, origin_url(directory))
            url = str(click.prompt("Repository Argo CD pulls the rendered tree from", default=default, err=True,
                                   value_proc=_checked(repo_url_problem))) if ask else default
        elif (why := repo_url_problem(url)) is not None:
            raise click.BadParameter(why, param_hint="'--repo-url'")
        files = starter_files(org, url, __version__)
        existed = directory.exists()
        create(directory, files)
        try:  # render it as 'render --full' does; on any failure, nothing stays behind
            (directory / SCHEMAS_DIR).mkdir()  # the editor schemas: render writes them, and keeps them current
            platform, rendered, _previous = compile_incremental(opts, True)
            out_dir = opts.out_dir(platform)
            tree = opts.shown(out_dir)
            check_out_dir(opts.root, out_dir, tree)
            out_dir = out_dir.resolve()
            repo_plan = plan_repo_files(opts.root, rendered.repo_files)
            with lock(out_dir, tree):
                the_plan = plan(out_dir, rendered.files, tree)
                apply(out_dir, rendered.files, the_plan, tree)
                apply_repo_files(opts.root, rendered.repo_files, repo_plan)
        except BaseException:
            undo_init(directory, existed)
            raise
        origin = origin_url(directory)
        steps = [f"cd {shlex.quote(shown)}",
                 "# fill in each cluster's API server in environments/*.yaml (server:) and add your teams to "
                 "platform-config/platform.yaml (the sample team 'example' can go once no service names it), then:",
                 "platform-gen render",
                 ("" if (directory / ".git").exists() else "git init -b main && ")
                 + "git add -A && git commit -m 'Platform repo from platform-gen init'",
                 ("" if origin else f"git remote add origin {shlex.quote(url)} && ") + "git push -u origin main",
                 "platform-gen new my-service --team example --template web-service "
                 f"--image ghcr.io/{org}/my-service:1.0.0"]
        if opts.fmt == "json":
            click.echo(report.to_json({"status": "created", "root": shown, "organization": org, "repo_url": url,
                                       "version": __version__, "files": sorted(files),
                                       "tree": {"path": tree, "files": len(the_plan.created)},
                                       "next_steps": steps}), nl=False)
            return EXIT_OK
        _steps_text(opts, f"created the platform repo {shown} for organization {org} ({len(files)} files, "
                          f"platform-gen {__version__}) and rendered it into {shown}/{tree} "
                          f"({len(the_plan.created)} files)", steps)
        return EXIT_OK

    return _guarded(opts, body)


@cli.command("new")
@click.argument("service", required=False)
@click.option("--team", metavar="TEAM", help="The team that owns it: a team of platform.yaml.")
@click.option("--template", metavar="TEMPLATE", help="The golden path: a folder of platform-config/templates/.")
@click.option("--image", metavar="IMAGE[:TAG]", help="The container image, such as ghcr.io/acme/search:1.0.0.")
@click.option("--tag", metavar="TAG", help="The image's tag (when --image has none).")
@click.option("--description", metavar="TEXT", help="What the service does, in one line (the catalog and the "
                                                     "scorecard's owner check read it).")
@click.option("--env", "envs", multiple=True, metavar="ENV",
              help="An environment to run in (repeatable) [default: the first in promotion order].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any value of config.yaml, a dotted key and a YAML scalar: replicas=3, "
                   "resources.requests.cpu=200m (repeatable).")
@_common_no_out
def new_cmd(service: str | None, team: str | None, template: str | None, image: str | None, tag: str | None,
            description: str | None, envs: tuple[str, ...], sets: tuple[str, ...], root: Path, fmt: str,
            verbose: int, quiet: int, color: str) -> int:
    """Start a service on a golden path: write platform-config/services/SERVICE/config.yaml, checked as
    render checks it first (nothing is written when it is not valid)."""
    from .load import SERVICES_DIR, load_shared
    from .scaffold import (
        NewService,
        SetError,
        create,
        parse_set,
        service_document,
        service_file,
        split_image,
    )
    from .validate import starter_problems

    opts = _options(root, None, fmt, verbose, quiet, color)

    def body() -> int:
        try:
            given = tuple(parse_set(text) for text in sets)
        except SetError as exc:
            raise click.BadParameter(str(exc), param_hint="'--set'") from None
        shared = load_shared(opts.root)
        if shared.platform is None:
            raise InputError(shared.problems)
        data = shared.platform.data if isinstance(shared.platform.data, dict) else {}
        teams = sorted(t for t in (data.get("teams") or {}) if isinstance(t, str)) \
            if isinstance(data.get("teams"), dict) else []
        templates = sorted(shared.templates)
        orders = sorted((doc.data.get("order"), doc.data.get("name")) for doc in shared.environments
                        if isinstance(doc.data, dict) and isinstance(doc.data.get("order"), int)
                        and isinstance(doc.data.get("name"), str))
        ask = _interactive()

        def missing(what: str) -> click.UsageError:
            return click.UsageError(f"missing {what} (there is no terminal to ask on)")

        def name_problem(name: str) -> str | None:
            found = _service_name_problems(name)
            if found:
                return found[0].message
            if os.path.lexists(opts.root / SERVICES_DIR / name):
                return f"service '{name}' already exists ({SERVICES_DIR}/{name})"
            return None

        name = service
        if name is None:
            if not ask:
                raise missing("argument 'SERVICE'")
            name = str(click.prompt("Service name", err=True, value_proc=_checked(name_problem)))
        bad = _service_name_problems(name)
        if bad:
            raise InputError(bad)
        if os.path.lexists(opts.root / SERVICES_DIR / name):
            return _emit_error(opts, f"service '{name}' already exists: {SERVICES_DIR}/{name}; nothing was written",
                               "pick another name, or edit its config.yaml", status="refused")
        if team is None:
            if not ask:
                raise missing("option '--team'")
            team_ = str(click.prompt("Team", err=True, type=click.Choice(teams) if teams else str,
                                     default=teams[0] if len(teams) == 1 else None))
        else:
            team_ = team
        if template is None:
            if not ask:
                raise missing("option '--template'")
            template_ = str(click.prompt("Golden path (template)", err=True,
                                         type=click.Choice(templates) if templates else str,
                                         default="web-service" if "web-service" in templates else None))
        else:
            template_ = template
        starters = {t: doc for t, doc in shared.starters.items() if t == template_}
        problems = [p for doc in starters.values() for p in starter_problems(doc)]
        if problems:
            raise InputError(problems)
        starter = starters[template_].data if template_ in starters else None
        starter = starter if isinstance(starter, dict) else {}
        set_keys = {path[0] for path, _value in given}
        image_, tag_ = split_image(image) if image is not None else (None, None)
        if tag is not None:
            if tag_ is not None and tag_ != tag:
                raise click.BadParameter(f"--image has the tag {tag_!r} and --tag says {tag!r}; give one",
                                         param_hint="'--tag'")
            tag_ = tag
        if image_ is None and "image" not in starter and "image" not in set_keys:
            if not ask:
                raise missing("option '--image'")
            image_, tag_from = split_image(str(click.prompt("Image (such as ghcr.io/acme/search:1.0.0)", err=True)))
            tag_ = tag_ or tag_from
        if tag_ is None and "tag" not in starter and "tag" not in set_keys:
            if not ask:
                raise click.UsageError("the image has no tag: give it as --image IMAGE:TAG, or --tag TAG")
            tag_ = str(click.prompt("Image tag", err=True))
        described = description
        if described is None and "description" not in starter and "description" not in set_keys and ask:
            described = str(click.prompt("Description (what it does, in one line)", default="", err=True,
                                         show_default=False)).strip() or None
        chosen = envs
        # the first environment, unless --env, the starter or a --set of the whole mapping says where it runs
        # (--set environments.prod.replicas=4 adds prod to it)
        whole = any(path == ("environments",) for path, _value in given)
        if not chosen and "environments" not in starter and not whole and orders:
            first = str(orders[0][1])
            if ask:
                answer = str(click.prompt("Environments to run in (comma-separated)", default=first, err=True))
                chosen = tuple(e.strip() for e in answer.replace(" ", ",").split(",") if e.strip())
            else:
                chosen = (first,)
        new = NewService(name=name, team=team_, template=template_, image=image_, tag=tag_, envs=chosen, sets=given,
                         description=described)
        try:
            doc = service_document(new, starter)
        except SetError as exc:
            raise click.BadParameter(str(exc), param_hint="'--set'") from None
        text = service_file(doc).encode("utf-8")
        # the same checks as render, on the file as it would be written, before it is
        platform, _rendered, _previous = compile_incremental(opts, False, extra=((name, text),))
        rel = f"{SERVICES_DIR}/{name}/config.yaml"
        create(opts.root, {rel: text})
        where = sorted(doc.get("environments") or {})
        cd = [] if opts.root == Path(".") else [f"cd {shlex.quote(str(opts.root))}"]
        steps = [*cd, f"platform-gen render          # its manifests, into {platform.gitops_path}/",
                 f"git add {SERVICES_DIR}/{name} {platform.gitops_path} && git commit -m 'Add service {name}'",
                 "push, and open a pull request: the pr workflow validates it and comments what it changes"]
        if opts.fmt == "json":
            click.echo(report.to_json({"status": "created", "file": rel, "service": name, "team": team_,
                                       "template": template_, "environments": where, "next_steps": steps}),
                       nl=False)
            return EXIT_OK
        runs = f"runs in {', '.join(where)}" if where else "runs nowhere yet: add environments"
        _steps_text(opts, f"created {rel} (team {team_}, golden path {template_}, {runs})", steps)
        return EXIT_OK

    return _guarded(opts, body)


def _service_name_problems(name: str) -> list[Problem]:
    """Render's problems with a service folder named ``name`` (as its config.yaml's name)."""
    from . import schemas
    from .load import SERVICES_DIR
    from .scaffold import MODELINE
    from .yamlio import load_located

    # name: sits on line 4 of the file 'new' writes, below the modeline and two comments
    doc, found = load_located(f"{MODELINE}#\n#\nname: {json.dumps(name)}\n", f"{SERVICES_DIR}/{name}/config.yaml")
    if doc is None:
        return found
    schema = {"type": "object", "properties": {"name": schemas.SERVICE["properties"]["name"]}}
    return found + schemas.check(doc, schema)



def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting."""
    from .gitref import remembered

    try:
        with remembered():
            result = cli.main(args=list(argv) if argv is not None else None, prog_name="platform-gen",
                              standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_INVALID
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INVALID
    except PlatformGenError as exc:  # pragma: no cover - every command guards its own
        click.echo(f"error: {exc}", err=True)
        return EXIT_INVALID
    except Exception:
        click.echo("internal error in platform-gen (this is a bug, please report it):", err=True)
        click.echo(traceback.format_exc(), err=True)
        return EXIT_INTERNAL
    return int(result) if isinstance(result, int) else EXIT_OK


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
