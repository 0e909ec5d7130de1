"""The render index's text: an index read, changed and written back is the index written anew.

A render reads the index's lines as spans of its text and writes the runs of lines it kept as they were
(``Services.pieces``); these properties hold that to the index made from the summaries alone, byte for
byte, and the questions asked of the lines (``holding``, ``same_line``) to their answers on copies.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from platform_gen.index import Index, Services, Summary, parse, serialize

from .conftest import resealed

NAMES = [f"svc-{i:02d}" for i in range(12)]
HOSTS = ["a.example.com", "b.example.com", "shop.example.com"]


def summary(name: str, variant: int) -> Summary:
    host = HOSTS[variant % len(HOSTS)]
    return Summary(
        name=name, team=f"team-{variant % 3}", template="web-service" if variant % 2 else "worker",
        file=f"platform-config/services/{name}/config.yaml", namespace=f"team-{variant % 3}",
        config=f"{variant:040x}", inputs=f"{variant + 7:032x}", envs=("dev", "prod")[: 1 + variant % 2],
        placements={"dev": ("dev-a",), **({"prod": ("prod-a", "prod-b")} if variant % 2 else {})},
        kinds=(("apps", "Deployment"),), files=(f"argocd/applicationsets/{name}.yaml",
                                                 f"services/{name}/base/kustomization.yaml"),
        out=f"{variant:032x}", routes=(("dev-a", host, "/"),) if variant % 4 else (),
        consumes_apis=("svc-00",) if variant % 5 == 1 else (), description=f"number {variant}",
    )


def index_of(services: dict[str, Summary]) -> Index:
    return Index("g" * 32, services, ("projects/team-0.yaml",), {}, "s" * 32, "m" * 40)


#: each service of NAMES: absent (None) or its summary's variant
plans = st.lists(st.one_of(st.none(), st.integers(0, 20)), min_size=len(NAMES), max_size=len(NAMES))


@settings(max_examples=60, deadline=None)
@given(before=plans, after=plans)
def test_an_index_read_then_changed_is_written_as_if_made_anew(before: list[int | None],
                                                               after: list[int | None]) -> None:
    old = {n: summary(n, v) for n, v in zip(NAMES, before, strict=True) if v is not None}
    new = {n: summary(n, v) for n, v in zip(NAMES, after, strict=True) if v is not None}
    read = parse(serialize(index_of(old)), None)
    assert read is not None
    assert serialize(read) == serialize(index_of(old))  # read and written back: the same bytes
    # as a render makes it: the services that stay and did not change are kept as read, the others replaced
    same = [n for n in new if n in old and new[n] == old[n]]
    changed = read.entries.only(same).updated({n: s for n, s in new.items() if n not in same})
    fresh = index_of(new)
    assert serialize(index_of(changed)) == serialize(fresh)
    for needle in [b'"consumesApis":', *(f'"{h}"'.encode() for h in HOSTS), b"nowhere"]:
        assert changed.holding(needle) == {n for n in changed if needle in changed.line(n)}
    again = parse(serialize(fresh), None)
    assert again is not None
    for name in NAMES:
        kept_as_read = name in same
        assert changed.same_line(name, read.entries) == kept_as_read
        assert changed.same_line(name, again.entries) == kept_as_read  # another text, the same bytes
        assert read.entries.same_line(name, read.entries) == (name in old)


def test_a_line_that_lost_its_separator_is_not_read() -> None:
    text = serialize(index_of({n: summary(n, i) for i, n in enumerate(NAMES[:3])}))
    assert parse(text, None) is not None
    broken = resealed(text, lambda rest: rest.replace(b',\n"svc-01"', b'\n"svc-01"', 1))  # the "," before line 2
    assert broken != text
    assert parse(broken, None) is None


def test_services_made_from_summaries_hold_no_read_line() -> None:
    services = Services.of({n: summary(n, 3) for n in NAMES[:2]})
    assert services.read_line("svc-00") is None
    assert not services.same_line("svc-00", services)
    assert services.holding(b'"a.example.com"') == set(NAMES[:2])


def _lines_as_before(data: bytes) -> list[tuple[int, tuple[bytes, ...]]] | None:
    """How the index's services' lines were found before they were matched newline by newline: one scan of
    the text for the pattern, and the newlines counted (the oracle of the test below)."""
    from platform_gen.index import _KEYS, _MARK

    at = data.find(_MARK)
    start, end = at + len(_MARK), len(data) - len(b"}\n}\n")
    found = [(m.start(), m.groups(b"")) for m in _KEYS.finditer(data, start, end)]
    if start < end and (data[start] != 0x0A or data[end - 1] != 0x0A):
        return None
    if data.count(b"\n", start, end) != (len(found) + 1 if found else 0) or \
            any(data[at - 1] != 0x2C for at, _key in found[1:]) or (found and data[end - 2] == 0x2C):
        return None
    return found


#: edits of the services' part: (where, bytes put in, bytes taken out; -1: up to the end of the line)
_EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([b"\n", b",", b"", b'"', b"\n\"x\":{", b" "]),
                            st.sampled_from([0, 1, 2, 3, -1])), max_size=3)


@settings(max_examples=300, deadline=None)
@given(plan=plans, edits=_EDITS)
@example(plan=[None] * len(NAMES), edits=[(0, b"\n", 0)])  # no service, and a lone newline where they go
def test_the_lines_of_an_index_are_found_as_a_scan_finds_them(plan: list[int | None],
                                                              edits: list[tuple[int, bytes, int]]) -> None:
    """An index whose services' part is edited (bytes put in, taken out; its checksum made right) is read, or
    refused, exactly as one scan of its text for the lines' pattern would read it."""
    from platform_gen.index import _MARK

    def edited(rest: bytes) -> bytes:
        start = rest.find(_MARK) + len(_MARK)
        body = bytearray(rest)
        for where, put, cut in edits:
            at = start + where % max(1, len(body) - len(b"}\n}\n") - start)
            if cut < 0:
                cut = max(0, body.find(b"\n", at) - at)
            body[at:at + cut] = put
        return bytes(body)

    text = serialize(index_of({n: summary(n, v) for n, v in zip(NAMES, plan, strict=True) if v is not None}))
    data = resealed(text, edited)
    expected = _lines_as_before(data)
    found = parse(data, None)
    if expected is None:
        assert found is None
        return
    names = [key[0].decode() for _at, key in expected]
    if len(set(names)) != len(names) or names != sorted(names):
        assert found is None
        return
    assert found is not None and list(found.entries) == names


def test_a_line_cut_inside_its_first_fields_is_not_read() -> None:
    """A line cut short inside its first fields (its tail gone, the next line joined to it; the checksum made
    right) is refused: those fields are not read across a newline into the next line."""
    def cut_short(rest: bytes) -> bytes:
        line = rest.index(b'\n"svc-00":')
        cut = rest.index(b'"envs":[', line) + len(b'"envs":[')
        return rest[:cut] + rest[rest.index(b",\n", cut):]

    data = resealed(serialize(index_of({n: summary(n, i) for i, n in enumerate(NAMES[:2])})), cut_short)
    assert _lines_as_before(data) is None
    assert parse(data, None) is None
