"""gl.to_dot gives valid Graphviz DOT of the recorded graph; gl.render draws it or says how."""

import re
import shutil
import subprocess

import gradledger as gl
import numpy as np
import pytest
from gradledger.graph import GraphvizNotFoundError

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


def test_to_dot_of_the_seed_chain_has_three_tensors_and_three_mul_edges():
    _, _, loss = seed_chain()
    nodes, edges = parse_dot(gl.to_dot(loss))
    labels = {name: label(attrs) for name, attrs in nodes.items()}
    assert sorted(labels.values()) == [
        "a\nvalue 6.0\ngrad 12.0",
        "loss\nvalue 36.0\ngrad 1.0",
        "x\nvalue 2.0\ngrad 36.0",
    ]
    by_label = {text.split("\n")[0]: name for name, text in labels.items()}
    assert sorted((tail, head) for tail, head, _ in edges) == sorted([
        (by_label["x"], by_label["a"]),
        (by_label["a"], by_label["loss"]),
        (by_label["a"], by_label["loss"]),  # loss = a * a: two edges, two entries
    ])
    assert {attrs["label"] for _, _, attrs in edges} == {'"mul"'}


def test_to_dot_before_backward_shows_values_and_no_grads():
    _, _, loss = seed_chain(backward=False)
    nodes, _ = parse_dot(gl.to_dot(loss))
    assert not any("grad" in label(attrs) for attrs in nodes.values())


def test_to_dot_shows_shapes_and_grad_norms_of_arrays():
    W = gl.tensor(np.ones((3, 4)), requires_grad=True, name="W")
    loss = gl.sum(gl.relu(W @ np.ones(4)))
    loss.backward()
    nodes, edges = parse_dot(gl.to_dot(loss))
    labels = sorted(label(attrs) for attrs in nodes.values())
    assert "W\nshape 3×4\ngrad norm 3.464" in labels
    assert sorted(attrs["label"] for _, _, attrs in edges) == ['"matmul"', '"relu"', '"sum"']


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
    assert [label(attrs) for _, _, attrs in edges] == ["half\n[halves]"]


def test_to_dot_of_a_deep_chain_needs_no_recursion():
    y = gl.tensor(0.0, requires_grad=True)
    for _ in range(3000):
        y = y + 1.0
    nodes, edges = parse_dot(gl.to_dot(y))
    assert len(nodes) == 3001 and len(edges) == 3000


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
