"""gl.explain prints the backward pass as the seed's ledger and returns it as data."""

import gc
import io

import gradledger as gl
import numpy as np
import pytest


def seed_chain():
    """The seed's chain: a = x * 3, loss = a * a, at x = 2."""
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    loss.name = "loss"
    return x, a, loss


def test_explain_books_the_seeds_chain_12_then_36_in_booking_order():
    x, a, loss = seed_chain()
    ledger = gl.explain(loss, show=False)
    assert [(e.op, e.target, e.total) for e in ledger] == [
        (None, "loss", 1.0),
        ("mul", "a", 6.0),
        ("mul", "a", 12.0),
        ("mul", "x", 36.0),
    ]
    last = ledger[-1]
    assert (last.local, last.out_grad, last.source, last.rule) == (3.0, 12.0, "a", "local_grad")
    assert ledger.balances == {"loss": 1.0, "a": 12.0, "x": 36.0}


def test_explain_prints_the_seeds_line_for_x():
    _, _, loss = seed_chain()
    out = io.StringIO()
    ledger = gl.explain(loss, file=out)
    printed = out.getvalue()
    assert "x.grad += 3.0 × a.grad (12.0)  → 36.0" in printed
    assert "a.grad += 6.0 × loss.grad (1.0)  → 12.0" in printed
    assert printed == ledger.text + "\n"
    lines = printed.splitlines()
    assert [line.split()[1] for line in lines[1:]] == ["seed", "mul", "mul", "mul"]


def test_explain_books_grads_as_backward_does():
    x, a, loss = seed_chain()
    gl.explain(loss, show=False)
    assert (x.grad, a.grad, loss.grad) == (36.0, 12.0, 1.0)
    with pytest.raises(gl.BackwardError, match="retain_graph"):
        loss.backward()  # the graph was freed, as backward() frees it


def test_explain_accumulates_onto_earlier_grads_but_prints_this_pass():
    x, _, loss = seed_chain()
    loss.backward(retain_graph=True)
    ledger = gl.explain(loss, show=False)
    assert ledger.balances["x"] == 36.0
    assert x.grad == 72.0  # += across backward calls, as the seed says


def test_explain_replay_leaves_grads_and_graph_untouched():
    x, a, loss = seed_chain()
    loss.backward(retain_graph=True)
    ledger = gl.explain(loss, book=False, show=False)
    assert ledger.balances["x"] == 36.0
    assert (x.grad, a.grad) == (36.0, 12.0)
    loss.backward()  # the graph is still there
    assert x.grad == 72.0


def test_explain_replay_before_any_backward_books_nothing():
    x, a, loss = seed_chain()
    gl.explain(loss, book=False, show=False)
    assert x.grad is None and a.grad is None and loss.grad is None


def test_y_equals_x_plus_x_books_two_entries_into_x():
    x = gl.tensor(3.0, requires_grad=True, name="x")
    y = x + x
    y.name = "y"
    ledger = gl.explain(y, show=False)
    assert [(e.target, e.contribution, e.total) for e in ledger.entries_for("x")] == [
        ("x", 1.0, 1.0),
        ("x", 1.0, 2.0),
    ]
    assert x.grad == 2.0


def test_unnamed_tensors_get_short_names_in_forward_order_and_the_root_is_loss():
    w = gl.tensor([1.0, -2.0, 3.0], requires_grad=True)
    loss = gl.sum(gl.relu(w * 2.0))  # nobody holds w * 2.0 or its relu
    ledger = gl.explain(loss, show=False)
    assert [e.target for e in ledger] == ["loss", "t3", "t2", "t1"]
    assert [e.op for e in ledger] == [None, "sum", "relu", "mul"]
    np.testing.assert_array_equal(ledger.balances["t1"], [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(w.grad, [2.0, 0.0, 2.0])


def test_the_ledger_says_what_each_automatic_name_stands_for():
    w = gl.tensor([1.0, 2.0], requires_grad=True, name="w")
    ledger = gl.explain(gl.sum(gl.relu(w * 2.0), axis=0), show=False)
    assert ledger.where == ["t1 = mul(w, ·)", "t2 = relu(t1)", "loss = sum(t2, axis=0)"]
    legend = "where\n  t1 = mul(w, ·)\n  t2 = relu(t1)\n  loss = sum(t2, axis=0)"
    assert ledger.text.endswith(legend)
    _, _, named = seed_chain()
    assert gl.explain(named, show=False).where == []


def test_explain_lends_unheld_intermediates_a_tensor_only_while_it_runs():
    w = gl.tensor([1.0, 2.0], requires_grad=True, name="w")
    loss = gl.sum(w * w)
    node = loss._node.parents[0]
    assert node.tensor() is None
    gl.explain(loss, show=False)
    gc.collect()
    assert node.tensor() is None


def test_arrays_show_shapes_and_norms_not_walls_of_numbers():
    W = gl.tensor(np.full((100, 100), 0.01), requires_grad=True, name="W")
    loss = gl.sum(W @ np.ones(100))
    ledger = gl.explain(loss, show=False)
    line = ledger.entries_for("W")[0].text
    assert line.startswith("W.grad += vjp(t1.grad [100, norm 10.0]) = [100×100, norm 100.0]")
    assert max(len(line) for line in ledger.text.splitlines()) < 120


def test_each_entry_keeps_the_balance_as_it_stood_after_it():
    W = gl.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    ledger = gl.explain(gl.sum(W @ W), show=False)
    first, second = ledger.entries_for("W")
    np.testing.assert_array_equal(first.total, np.full((2, 2), 2.0))
    np.testing.assert_array_equal(second.total, np.full((2, 2), 4.0))
    np.testing.assert_array_equal(W.grad, np.full((2, 2), 4.0))


def test_broadcast_entries_say_they_were_summed():
    b = gl.tensor(0.5, requires_grad=True, name="b")
    loss = gl.sum(b + np.ones(4))
    text = gl.explain(loss, show=False).entries_for("b")[0].text
    assert text == "b.grad += 1.0 × t1.grad [4, norm 2.0]  → 4.0  (summed over broadcast axes)"


def test_each_line_names_a_plugins_op_and_its_plugin(fresh_host):
    class CubePlugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("cube", lambda x: x**3, local_grad=lambda x, out: (3 * x**2,),
                                    signature="()->()"))

    gl.register_plugin(CubePlugin(), name="cubes")
    x = gl.tensor(2.0, requires_grad=True, name="x")
    ledger = gl.explain(gl.cube(x) * 1.0, show=False)
    assert (ledger[-1].op, ledger[-1].plugin) == ("cube", "cubes")
    rows = ledger.text.splitlines()[1:len(ledger) + 1]
    assert "cube [cubes]" in rows[-1] and "x.grad += 12.0 × t1.grad (1.0)  → 12.0" in rows[-1]
    assert "mul [" not in rows[1]  # a built-in op is named without its plugin


def test_show_false_prints_nothing(capsys):
    _, _, loss = seed_chain()
    gl.explain(loss, show=False)
    assert capsys.readouterr().out == ""


def test_explain_prints_to_stdout_by_default(capsys):
    _, _, loss = seed_chain()
    gl.explain(loss)
    assert "x.grad += 3.0 × a.grad (12.0)  → 36.0" in capsys.readouterr().out


def test_explain_of_a_leaf_is_just_the_seed():
    x = gl.tensor(4.0, requires_grad=True, name="x")
    ledger = gl.explain(x, show=False)
    assert [(e.rule, e.target, e.total) for e in ledger] == [("seed", "x", 1.0)]


def test_explain_of_a_freed_graph_raises_and_restores_the_grads():
    x, _, loss = seed_chain()
    loss.backward()
    with pytest.raises(gl.BackwardError, match="retain_graph=True"):
        gl.explain(loss, show=False)
    assert x.grad == 36.0


def test_explain_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="expected the gl.Tensor"):
        gl.explain(3.0)


def test_repeated_names_are_told_apart():
    a = gl.tensor(1.0, requires_grad=True, name="w")
    b = gl.tensor(2.0, requires_grad=True, name="w")
    ledger = gl.explain(a * b, show=False)
    assert {e.target for e in ledger} == {"loss", "w", "w#2"}


def test_a_deep_chain_is_explained_without_recursion():
    x = gl.tensor(0.0, requires_grad=True, name="x")
    y = x
    for _ in range(3000):
        y = y + 1.0
    ledger = gl.explain(y, show=False)
    assert len(ledger) == 3001 and ledger[-1].target == "x" and x.grad == 1.0


def test_explain_of_a_non_scalar_output_takes_its_grad_seed():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    ledger = gl.explain(x * x, grad=np.array([1.0, 0.0, -1.0]), show=False)
    assert ledger[0].text == "loss.grad = [3, norm 1.414]"
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, -6.0])


def test_explain_without_booking_after_backward_gives_the_entries_a_picture_kept():
    x = gl.tensor(2.0, requires_grad=True, name="x")
    loss = (x * 3) * (x * 3)
    gl.graph(loss)  # taken before backward: keeps the pass
    loss.backward()
    ledger = gl.explain(loss, book=False, show=False)
    assert [(e.target, e.total) for e in ledger.entries_for("x")] == [("x", 18.0), ("x", 36.0)]
    assert x.grad == 36.0  # explained, not booked again


def test_explain_without_booking_after_a_plain_backward_gives_the_balances_and_says_why():
    x, a, loss = seed_chain()
    loss.backward()  # frees the graph, keeps nothing
    ledger = gl.explain(loss, book=False, show=False)
    assert [(e.rule, e.target, e.total) for e in ledger] == [
        ("booked", "loss", 1.0), ("booked", "a", 12.0), ("booked", "x", 36.0)]
    assert "gl.explain(loss) instead of backward()" in ledger.text
    assert x.grad == 36.0


def test_a_ledger_displays_as_an_html_table():
    _, _, loss = seed_chain()
    html = gl.explain(loss, show=False)._repr_html_()
    assert html.count("<tr>") == 1 + 4  # the header and one row per entry
    assert "<td>mul</td>" in html and "x.grad += 3.0 × a.grad (12.0)  → 36.0" in html


def test_a_ledger_printed_by_explain_is_not_displayed_again_in_the_same_cell(monkeypatch):
    pytest.importorskip("IPython")
    from gradledger import ledger as ledger_module

    cell = {"number": 7}
    monkeypatch.setattr(ledger_module, "_cell", lambda: cell["number"])
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *args, **kw: shown.append(args))
    _, _, loss = seed_chain()
    ledger = gl.explain(loss, file=None)  # prints, as the cell's last value
    ledger._ipython_display_()
    assert shown == []  # not twice
    cell["number"] = 8  # the ledger shown again in a later cell: a table
    ledger._ipython_display_()
    assert len(shown) == 1 and "text/html" in shown[0][0]


def test_an_op_with_several_outputs_is_explained_per_output_and_drawn():
    m = gl.tensor(np.arange(4.0), requires_grad=True, name="m")
    top, bottom = gl.split(m, 2)
    loss = gl.sum(top * 2.0) + gl.sum(bottom)
    ledger = gl.explain(loss, show=False, retain_graph=True)
    assert [e.target for e in ledger if e.target.startswith("t1")] == ["t1[1]", "t1[0]"]
    assert "t2 = mul(t1[0], ·)" in ledger.where and "t4 = sum(t1[1])" in ledger.where
    np.testing.assert_array_equal(m.grad, [2.0, 2.0, 1.0, 1.0])
    assert "t1    split(m)     value 2 outputs" in repr(gl.graph(loss))
