"""gl.to_dot gives valid Graphviz DOT of the recorded graph; gl.render draws it or says how."""

import re
import shutil
import subprocess
from xml.etree import ElementTree

import gradledger as gl
import numpy as np
import pytest
from gradledger.pictures import GraphvizNotFoundError

DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz `dot` is not installed")

TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|->|[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|[{}\[\];=,])')


def tokens(text):
    found, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        assert match, f"not DOT at {text[position:position + 30]!r}"
        found.append(match.group(1))
        position = match.end()
    return found


def parse_dot(text):
    """A structural check of the DOT subset to_dot writes: digraph NAME { statements }.

    Returns ({node: attrs}, [(tail, head, attrs)]); fails on anything malformed, or on
    an edge between undeclared nodes.
    """
    toks = tokens(text)
    assert toks[:3] == ["digraph", toks[1], "{"] and toks[-1] == "}", toks[:3]
    body, nodes, edges, i = toks[3:-1], {}, [], 0

    def attributes(i):
        attrs = {}
        if i < len(body) and body[i] == "[":
            i += 1
            while i < len(body) and body[i] != "]":
                triple = body[i:i + 3]
                assert len(triple) == 3 and triple[1] == "=", f"bad attribute {triple}"
                key, _, value = triple
                attrs[key] = value
                i += 3
                if body[i] == ",":
                    i += 1
            assert i < len(body), "unclosed ["
            i += 1
        return attrs, i

    while i < len(body):
        head = body[i]
        if i + 1 < len(body) and body[i + 1] == "->":
            tail, target = head, body[i + 2]
            attrs, i = attributes(i + 3)
            edges.append((tail, target, attrs))
        elif i + 1 < len(body) and body[i + 1] == "=":
            i += 3  # graph attribute: rankdir=LR
        else:
            attrs, i = attributes(i + 1)
            if head not in ("node", "edge", "graph"):
                nodes[head] = attrs
        assert i < len(body) and body[i] == ";", f"missing ';' at {body[i:i + 3]}"
        i += 1
    for tail, target, _ in edges:
        assert tail in nodes and target in nodes, (tail, target)
    return nodes, edges


def label(attrs):
    return attrs["label"][1:-1].replace("\\n", "\n")


def seed_chain(backward=True):
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    if backward:
        loss.backward()
    return x, a, loss


def test_to_dot_of_the_seed_chain_draws_its_constant_and_local_gradients():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    nodes, edges = parse_dot(gl.to_dot(loss))  # drawn before backward: no grads yet
    assert sorted(label(attrs) for attrs in nodes.values()) == [
        "3.0", "a\nvalue 6.0", "loss\nvalue 36.0", "x\nvalue 2.0"]
    loss.backward()
    nodes, edges = parse_dot(gl.to_dot(loss))
    labels = {name: label(attrs) for name, attrs in nodes.items()}
    assert sorted(labels.values()) == [
        "3.0",
        "a\nvalue 6.0\ngrad 12.0",
        "loss\nvalue 36.0\ngrad 1.0",
        "x\nvalue 2.0\ngrad 36.0",
    ]
    by_label = {text.split("\n")[0]: name for name, text in labels.items()}
    assert sorted((tail, head, label(attrs)) for tail, head, attrs in edges) == sorted([
        (by_label["x"], by_label["a"], "mul\nlocal 3.0"),
        (by_label["3.0"], by_label["a"], ""),
        (by_label["a"], by_label["loss"], "mul\nlocal 6.0"),
        (by_label["a"], by_label["loss"], "mul\nlocal 6.0"),  # loss = a * a: two entries
    ])


def test_to_dot_before_backward_shows_values_and_no_grads():
    x, _, loss = seed_chain(backward=False)
    nodes, _ = parse_dot(gl.to_dot(loss))
    assert not any("grad" in label(attrs) for attrs in nodes.values())
    assert x.grad is None  # drawing replays the pass without booking anything


def test_to_dot_shows_shapes_and_grad_norms_of_arrays():
    W = gl.tensor(np.ones((3, 4)), requires_grad=True, name="W")
    loss = gl.sum(gl.relu(W @ np.ones(4)))
    picture = gl.graph(loss)
    loss.backward()
    nodes, edges = parse_dot(picture.dot)
    labels = sorted(label(attrs) for attrs in nodes.values())
    assert "W\nshape 3×4\ngrad norm 3.464" in labels  # sqrt(12) ones
    # matmul's rule does not read its output: the tape dropped it (issue 20); relu's kept
    assert "t1\n(not kept)\ngrad [1.0, 1.0, 1.0]" in labels
    assert "t2\nvalue [4.0, 4.0, 4.0]\ngrad [1.0, 1.0, 1.0]" in labels
    assert "[1.0, 1.0, 1.0, 1.0]" in labels  # the constant vector, drawn
    assert sorted(label(attrs) for _, _, attrs in edges) == [
        "", "matmul\nvjp 3×4, norm 3.464", "relu\nlocal [1.0, 1.0, 1.0]",
        "sum\nvjp [1.0, 1.0, 1.0]"]


def test_to_dot_quotes_awkward_names():
    x = gl.tensor(1.0, requires_grad=True, name='say "hi" \\ bye')
    nodes, _ = parse_dot(gl.to_dot(x * 2.0))
    assert any(label(attrs).startswith('say \\"hi\\" \\\\ bye') for attrs in nodes.values())


def test_to_dot_names_a_plugins_op_on_its_edges(fresh_host):
    class HalfPlugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("half", lambda x: x / 2, local_grad=lambda x, out: (0.5,),
                                    signature="()->()"))

    gl.register_plugin(HalfPlugin(), name="halves")
    x = gl.tensor(1.0, requires_grad=True, name="x")
    _, edges = parse_dot(gl.to_dot(gl.half(x)))
    assert [label(attrs) for _, _, attrs in edges] == ["half [halves]\nlocal 0.5"]


def test_to_dot_of_a_deep_chain_needs_no_recursion():
    y = gl.tensor(0.0, requires_grad=True)
    for _ in range(3000):
        y = y + 1.0
    nodes, edges = parse_dot(gl.to_dot(y))
    assert len(nodes) == 3001 + 3000 and len(edges) == 3000 + 3000  # a constant 1.0 each
    table = repr(gl.graph(y)).splitlines()
    assert len(table) == 1 + 60 + 1 and "  ... 5941 more ..." in table  # 6001 rows, cut


@needs_dot
def test_dot_accepts_to_dot_output():
    _, _, loss = seed_chain()
    W = gl.tensor(np.ones((2, 2)), requires_grad=True, name='W "quoted"')
    for graph in (loss, gl.mean(gl.tanh(W @ W) + 1.0)):
        result = subprocess.run([DOT, "-Tcanon"], input=gl.to_dot(graph), capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "digraph" in result.stdout


@needs_dot
def test_render_writes_a_png(tmp_path):
    _, _, loss = seed_chain()
    path = gl.render(loss, tmp_path / "graph.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_render_reports_a_format_graphviz_does_not_know(tmp_path):
    _, _, loss = seed_chain()
    with pytest.raises(gl.GradledgerError, match="failed"):
        gl.render(loss, tmp_path / "graph.nosuchformat")


def test_render_without_dot_says_how_to_install_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere on PATH
    _, _, loss = seed_chain()
    with pytest.raises(GraphvizNotFoundError) as caught:
        gl.render(loss, tmp_path / "graph.png")
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "gl.to_dot" in message
    assert not (tmp_path / "graph.png").exists()


# -- gl.graph: a picture that shows itself ------------------------------------------------


def svg_texts(svg):
    """Every text line of an SVG (parsed as XML: it must be well formed)."""
    root = ElementTree.fromstring(svg)
    found = []
    for element in root.iter("{http://www.w3.org/2000/svg}text"):
        spans = element.findall("{http://www.w3.org/2000/svg}tspan")
        found += [span.text for span in spans] if spans else ["".join(element.itertext())]
    return found


def test_repr_svg_after_backward_shows_every_value_grad_and_constant():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    loss = gl.sum((x * 3.0) ** 2.0)  # nobody holds x * 3 or its square
    picture = gl.graph(loss)
    loss.backward()
    texts = svg_texts(picture._repr_svg_())
    for line in ["x", "value 2.0", "grad 36.0",         # x: 2; d(9x²)/dx = 18x = 36
                 "t1", "value 6.0", "grad 12.0",        # a = 3x = 6; 2a = 12
                 "t2", "value 36.0", "grad 1.0",        # a² = 36
                 "loss", "3.0", "2.0",                  # the constants 3 and 2
                 "mul", "local 3.0", "pow", "local 12.0"]:
        assert line in texts, line


def test_a_graph_taken_by_explain_shows_every_grad_after_the_pass():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    loss = (x * 3.0) * (x * 3.0)
    gl.explain(loss, show=False)  # books, frees the graph, keeps the picture
    table = repr(gl.graph(loss))
    assert "t1    mul(x, ·)    value 6.0   grad 6.0" in table  # each factor: 6 from loss
    assert "loss  mul(t1, t2)  value 36.0  grad 1.0" in table
    assert "x     leaf         value 2.0   grad 36.0" in table


def test_a_graph_drawn_after_a_plain_backward_says_what_was_not_kept():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    loss = (x * 3.0) * 2.0
    loss.backward()  # keeps nothing for pictures
    picture = gl.graph(loss)
    table = repr(picture)
    assert "t1    mul(x)   (not kept)" in table
    assert "x     leaf     value 2.0   grad 6.0" in table
    assert "draw gl.graph(loss) or run gl.explain(loss) before backward()" in picture.caption
    assert picture.caption in svg_texts(picture.svg)


def test_y_equals_x_plus_x_draws_two_arrows_each_with_its_local_gradient():
    x = gl.tensor(3.0, requires_grad=True, name="x")
    y = x + x
    picture = gl.graph(y)
    y.backward()
    _, edges = parse_dot(picture.dot)
    assert [label(attrs) for _, _, attrs in edges] == ["add\nlocal 1.0", "add\nlocal 1.0"]
    assert "grad 2.0" in svg_texts(picture.svg)


def test_drawing_before_backward_books_nothing_and_shows_no_grads():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    loss = x * x
    picture = gl.graph(loss)
    assert x.grad is None and loss.grad is None
    assert not any(text.startswith("grad") for text in svg_texts(picture.svg))
    loss.backward()
    assert x.grad == 4.0  # booked once, by backward alone
    assert "grad 4.0" in svg_texts(picture.svg)  # the same picture, drawn again


def test_the_svg_is_the_same_text_every_time():
    def draw():
        W = gl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="W")
        return gl.graph(gl.mean(gl.tanh(W @ np.ones(3)))).svg

    assert draw() == draw()


def test_a_non_scalar_root_needs_its_seed_for_intermediate_grads():
    x = gl.tensor([1.0, 2.0], requires_grad=True, name="x")
    assert "gl.graph(loss, grad=...)" in gl.graph(x * 2.0).caption
    seeded = gl.graph(x * 2.0, grad=np.ones(2))
    assert seeded.caption == ""


def test_save_writes_svg_and_dot_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _, _, loss = seed_chain(backward=False)
    picture = gl.graph(loss)
    assert picture.save(tmp_path / "g.svg").read_text().startswith("<svg")
    assert picture.save(tmp_path / "g.dot").read_text() == picture.dot + "\n"
    assert str(picture) == picture.dot
    with pytest.raises(GraphvizNotFoundError):
        picture.save(tmp_path / "g.png")


def test_graph_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="gl.graph expected a gl.Tensor; got float"):
        gl.graph(3.0)


@needs_dot
def test_dot_accepts_the_dot_of_a_picture_with_constants():
    W = gl.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    result = subprocess.run([DOT, "-Tsvg"], input=gl.graph(gl.sum(W * 2.0)).dot,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
