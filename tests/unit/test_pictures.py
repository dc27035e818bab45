"""Pictures of workflows and runs: DOT, Mermaid, SVG, HTML and the timeline (no Ray).

The DOT and Mermaid texts of a small fixed workflow are compared with golden files in
``tests/fixtures/pictures/``. After an intended change of the output, regenerate them
with::

    ORCHESTRATOR_UPDATE_GOLDENS=1 pytest tests/unit/test_pictures.py

and review the diff of the golden files before committing them.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import Workflow
from orchestrator.cli import EXIT_REJECTED, main
from orchestrator.core.specs import OutputOf, TaskSpec, WorkflowSpec
from orchestrator.core.states import TaskState
from orchestrator.core.status import TaskInfo
from orchestrator.loader import load_workflow_file
from orchestrator.pictures import (
    run_html,
    sketch,
    timeline_html,
    timeline_svg,
    to_dot,
    to_html,
    to_mermaid,
    to_svg,
)
from orchestrator.pictures.text import dot_quote, mermaid_text

GOLDENS = Path(__file__).resolve().parents[1] / "fixtures" / "pictures"
DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
UPDATE_GOLDENS = os.environ.get("ORCHESTRATOR_UPDATE_GOLDENS") == "1"
SVG = "{http://www.w3.org/2000/svg}"


def fetch(url: str) -> str:
    return url


def merge(*parts: str) -> str:
    return "".join(parts)


def odd() -> None:
    """A handler whose name needs escaping in every format."""


odd.__qualname__ = 'say "hi" <b>&amp; #1 \\n'

STATES = {
    "fetch.v1": TaskState.SUCCEEDED,
    "parse-a": TaskState.RUNNING,
    "parse:b": TaskState.RETRY_WAIT,
    "merge@v2": TaskState.PENDING,
}


def small_spec() -> WorkflowSpec:
    """Five tasks, ids with dots, dashes, colons and at signs; one odd handler name."""
    return WorkflowSpec(
        name="pictured",
        tasks=(
            TaskSpec(id="fetch.v1", function=fetch, priority="high"),
            TaskSpec(id="parse-a", agent="Parser", args=(OutputOf(output_of="fetch.v1"),)),
            TaskSpec(id="parse:b", function=odd, depends_on=("fetch.v1",)),
            TaskSpec(id="merge@v2", function=merge, depends_on=("parse-a", "parse:b")),
            TaskSpec(id="report", function="pkg.reports:write", depends_on=("merge@v2",)),
        ),
    )


def dependencies(spec: WorkflowSpec) -> set[tuple[str, str]]:
    return {(dep, task.id) for task in spec.tasks for dep in task.dependencies()}


def svg_part(page: str) -> ET.Element:
    return ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])


class TagBalance(HTMLParser):
    """Records tags closed without being open, or in the wrong order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"</{tag}> at {self.getpos()}")


# -- golden files -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "render"), [("small.dot", to_dot), ("small.mmd", to_mermaid)])
def test_text_formats_match_their_golden_files(name: str, render: object) -> None:
    assert callable(render)
    text = render(small_spec(), STATES)
    golden = GOLDENS / name
    if UPDATE_GOLDENS:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_readme_shows_the_demo_workflow_as_the_graph_command_draws_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == to_mermaid(load_workflow_file(ROOT / "examples" / "corpus_report.yaml"))


# -- escaping ---------------------------------------------------------------------------


def test_dot_quotes_escape_backslashes_quotes_and_line_breaks() -> None:
    assert dot_quote('a"b\\c\nd&lt;') == '"a\\"b\\\\c\\nd&amp;lt;"'
    dot = to_dot(small_spec(), STATES)
    for task_id in ("fetch.v1", "parse-a", "parse:b", "merge@v2"):
        assert f'  "{task_id}" [label=' in dot
    assert '"fetch.v1" -> "parse:b";' in dot
    assert 'say \\"hi\\" <b>&amp;amp; #1 \\\\n · medium' in dot
    # The graph's label is an HTML-like table: its text is escaped as HTML.
    assert "<&>" not in to_dot(small_spec(), title="a <&> b").split("label=<", 1)[1]


def test_mermaid_names_nodes_itself_and_escapes_labels() -> None:
    mermaid = to_mermaid(small_spec(), STATES)
    nodes = re.findall(r'^  (t\d+)\["([^"]*)"\]$', mermaid, flags=re.MULTILINE)
    assert [name for name, _ in nodes] == ["t0", "t1", "t2", "t3", "t4"]
    labels = dict(nodes)
    assert labels["t2"] == "parse:b<br/>say #34;hi#34; #60;b#62;#38;amp#59; #35;1 #92;n · medium"
    assert mermaid_text("[x]|{y}`;") == "#91;x#93;#124;#123;y#125;#96;#59;"
    assert "t0 --> t2" in mermaid


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_reads_the_dot_text_back_as_drawn() -> None:
    svg = ET.fromstring(to_svg(small_spec(), STATES, engine="graphviz"))
    groups = list(svg.iter(f"{SVG}g"))
    titles = {
        kind: {g.findtext(f"{SVG}title") for g in groups if g.get("class") == kind}
        for kind in ("node", "edge")
    }
    assert titles["node"] == {task.id for task in small_spec().tasks}
    assert titles["edge"] == {f"{a}->{b}" for a, b in dependencies(small_spec())}
    texts = {t.text for t in svg.iter(f"{SVG}text")}
    assert 'say "hi" <b>&amp; #1 \\n · medium' in texts


def test_graphviz_engine_without_dot_says_so() -> None:
    if shutil.which("dot") is not None:
        pytest.skip("Graphviz's dot is installed here")
    with pytest.raises(RuntimeError, match="'dot' executable is not on PATH"):
        to_svg(small_spec(), engine="graphviz")


# -- HTML and the built-in SVG ----------------------------------------------------------


def test_html_page_is_well_formed_with_a_node_per_task_and_an_edge_per_dependency() -> None:
    spec = small_spec()
    page = to_html(spec, STATES)
    balance = TagBalance()
    balance.feed(page)
    balance.close()
    assert not balance.problems and not balance.open
    ET.fromstring(page.split("\n", 1)[1])  # the page is well-formed XML past its doctype
    svg = svg_part(page)
    nodes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    edges = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert sorted(g.get("data-task") or "" for g in nodes) == sorted(t.id for t in spec.tasks)
    assert {(g.get("data-from"), g.get("data-to")) for g in edges} == dependencies(spec)
    assert len(edges) == len(dependencies(spec))
    fills = {g.get("data-task"): g.find(f"{SVG}rect").get("fill") for g in nodes}  # type: ignore[union-attr]
    assert fills["fetch.v1"] == "#bbf7d0" and fills["report"] == "#ffffff"
    legend = [t.text for g in svg.iter(f"{SVG}g") if g.get("class") == "legend" for t in g]
    assert [text for text in legend if text] == ["pending", "running", "retry_wait", "succeeded"]
    assert "<script" not in page and "href=" not in page and "src=" not in page


def test_html_escapes_labels_and_shows_them_unchanged() -> None:
    svg = svg_part(to_html(small_spec(), title='a <&> "b"'))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts[0] == 'a <&> "b"'
    odd_node = next(g for g in svg.iter(f"{SVG}g") if g.get("data-task") == "parse:b")
    assert odd_node.findtext(f"{SVG}title") == 'parse:b: say "hi" <b>&amp; #1 \\n · medium'


def test_builtin_svg_puts_every_task_below_its_dependencies() -> None:
    svg = ET.fromstring(to_svg(small_spec(), engine="builtin"))
    top = {
        g.get("data-task"): float(g.find(f"{SVG}rect").get("y") or 0)  # type: ignore[union-attr]
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "node"
    }
    assert all(top[a] < top[b] for a, b in dependencies(small_spec()))


def test_unknown_engine_and_unknown_state_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'png'"):
        to_svg(small_spec(), engine="png")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"states\['report'\]: unknown task state 'done'"):
        to_dot(small_spec(), {"report": "done"})


# -- large and unfinished workflows -----------------------------------------------------


def test_large_workflows_are_capped_and_say_so() -> None:
    tasks = [TaskSpec(id="root", function="m:f")]
    tasks += [TaskSpec(id=f"leaf-{i}", function="m:g", depends_on=("root",)) for i in range(300)]
    spec = WorkflowSpec(name="wide", tasks=tuple(tasks))
    drawn = sketch(spec, max_nodes=50, max_edges=20)
    assert [n.task_id for n in drawn.nodes][:2] == ["root", "leaf-0"] and len(drawn.nodes) == 50
    assert len(drawn.edges) == 20 and drawn.total_edges == 49
    note = "showing the first 50 of 301 tasks (by depth); 20 of 49 dependencies; the rest"
    assert drawn.note is not None and drawn.note.startswith(note)
    assert to_dot(spec, max_nodes=50, max_edges=20).count(" -> ") == 20
    assert note in to_dot(spec, max_nodes=50, max_edges=20)
    mermaid = to_mermaid(spec, max_nodes=50)
    assert mermaid.count('"]\n') == 51 and '  more["showing the first 50 of 301' in mermaid
    svg = svg_part(to_html(spec, max_nodes=50))
    assert sum(1 for g in svg.iter(f"{SVG}g") if g.get("class") == "node") == 50
    assert any((t.text or "").startswith("showing the first 50") for t in svg.iter(f"{SVG}text"))
    assert sketch(spec).note is not None and len(sketch(spec).nodes) == 200  # the default cap


def test_workflow_under_construction_draws_with_cycles_and_missing_dependencies() -> None:
    tasks = [
        TaskSpec(id="a", function="m:f", depends_on=("later",)),  # not declared (yet)
        TaskSpec(id="b", function="m:f", depends_on=("c",)),
        TaskSpec(id="c", function="m:f", depends_on=("b",)),
    ]
    drawn = sketch(tasks)
    assert {n.task_id: n.depth for n in drawn.nodes} == {"a": 0, "b": 1, "c": 1}
    assert set(drawn.edges) == {("c", "b"), ("b", "c")}
    ET.fromstring(to_svg(tasks, engine="builtin"))


def test_workflow_hooks_draw_it_as_it_stands() -> None:
    wf = Workflow("hooked")
    first = wf.task("first", fetch, args=("x",))
    wf.task("second", merge, args=(first.output,), priority="critical")
    assert '"first" -> "second";' in wf.to_dot()
    assert "second<br/>merge · critical" in wf.to_mermaid({"first": "succeeded"})
    html = wf._repr_html_()
    assert html.count('class="node"') == 2 and html.count('class="edge"') == 1
    assert ">empty</text>" in Workflow("empty")._repr_html_()


# -- timeline and runs ------------------------------------------------------------------


def infos() -> list[TaskInfo]:
    """A finished run: two agents, two overlapping tasks on one, one retried, one skipped."""
    return [
        TaskInfo(task_id="fetch.v1", state="succeeded", priority=1, attempts=1,
                 agent_id="FunctionAgent-1", started_s=100.0, finished_s=100.5),
        TaskInfo(task_id="parse-a", state="succeeded", priority=2, attempts=1,
                 agent_id="Parser-1", started_s=100.5, finished_s=101.5),
        TaskInfo(task_id="parse:b", state="failed", priority=2, attempts=3,
                 agent_id="Parser-1", started_s=101.0, finished_s=102.0),
        TaskInfo(task_id="merge@v2", state="skipped", priority=2),
    ]  # fmt: skip


def test_timeline_draws_a_bar_per_started_task_in_a_row_per_agent() -> None:
    svg = ET.fromstring(timeline_svg(infos(), title="pictured"))
    bars = {g.get("data-task"): g for g in svg.iter(f"{SVG}g") if g.get("class") == "bar"}
    assert set(bars) == {"fetch.v1", "parse-a", "parse:b"}
    rect = {task: g.find(f"{SVG}rect") for task, g in bars.items()}
    x = {task: float(r.get("x") or 0) for task, r in rect.items() if r is not None}
    y = {task: float(r.get("y") or 0) for task, r in rect.items() if r is not None}
    assert x["fetch.v1"] < x["parse-a"] < x["parse:b"]
    assert y["parse-a"] != y["parse:b"]  # they overlap in time: two lanes of one row
    assert bars["parse:b"].get("data-agent") == "Parser-1"
    assert "last of 3 attempts" in (bars["parse:b"].findtext(f"{SVG}title") or "")
    fill = rect["parse:b"].get("fill") if rect["parse:b"] is not None else None
    assert fill == "#fecaca"
    agents = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "agent"]
    assert agents == ["FunctionAgent-1", "Parser-1"]
    notes = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "note"]
    assert notes == ["1 task(s) never started"]


def test_timeline_page_and_a_run_that_never_started() -> None:
    page = timeline_html(infos(), title="pictured")
    ET.fromstring(page.split("\n", 1)[1])
    empty = ET.fromstring(timeline_svg([TaskInfo(task_id="a", state="pending", priority=2)]))
    assert "no task has started" in [t.text for t in empty.iter(f"{SVG}text")]


def test_run_picture_colours_the_graph_and_adds_the_timeline() -> None:
    html = run_html(small_spec(), infos(), title="pictured-1")
    assert html.count("<svg") == 2 and 'data-task="report"' in html
    attached = run_html(None, infos(), title="pictured-1")
    assert attached.count("<svg") == 1 and "submitted by this driver" in attached


# -- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "svg", "html"])
def test_graph_command_writes_each_format(fmt: str, tmp_path: Path) -> None:
    output = tmp_path / f"tiny.{fmt}"
    args = ["graph", str(DATA / "tiny.yaml"), "--format", fmt, "--output", str(output)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "sum.json" in text and f"wrote {output}" in result.output


def test_graph_command_prints_and_refuses_bad_input(tmp_path: Path) -> None:
    printed = CliRunner().invoke(main, ["graph", str(DATA / "tiny.yaml"), "--format", "mermaid"])
    assert printed.exit_code == 0 and printed.output.startswith('---\ntitle: "tiny"')
    unknown = CliRunner().invoke(main, ["graph", str(DATA / "tiny.yaml"), "--format", "png"])
    assert unknown.exit_code == 2 and "'png' is not one of" in unknown.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntasks:\n  - {id: a, function: 'm:f', depends_on: [a]}\n")
    refused = CliRunner().invoke(main, ["graph", str(bad)])
    assert refused.exit_code == EXIT_REJECTED and "depends on itself" in refused.output
