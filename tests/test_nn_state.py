"""gl.nn modules: train/eval, state_dict/load_state_dict, Sequential; gl.save/gl.load."""

import gradledger as gl
import numpy as np
import pytest


class Net(gl.nn.Module):
    """Nested modules in a list and a dict, a frozen tensor, and a private attribute."""

    def __init__(self):
        self.body = gl.nn.Sequential(gl.nn.Linear(3, 4, rng=0), gl.nn.ReLU(),
                                     gl.nn.Linear(4, 2, rng=1))
        self.heads = {"left": gl.nn.Linear(2, 1, rng=2)}
        self.scale = gl.tensor([2.0])  # not a parameter, but part of the state
        self._cache = gl.tensor([9.0], requires_grad=True)  # private: not walked

    def forward(self, x):
        return self.heads["left"](self.body(x)) * self.scale


def test_state_dict_holds_every_tensor_by_dotted_path_as_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
                           "heads.left.weight", "heads.left.bias", "scale"]
    assert [path for path, _ in net.named_parameters()] == list(state)[:-1]
    np.testing.assert_array_equal(state["body.0.weight"], net.body[0].weight.data)
    assert state["body.0.weight"] is not net.body[0].weight.data  # a snapshot, not the live array
    before = state["body.0.weight"].copy()
    net.body[0].weight.grad = np.ones((4, 3))
    gl.optim.SGD(net, lr=0.1).step()
    np.testing.assert_array_equal(state["body.0.weight"], before)


def test_load_state_dict_restores_the_outputs_of_another_network():
    source, target = Net(), Net()
    for w in target.parameters():
        w.data = w.data + 1.0
    x = np.arange(6.0).reshape(2, 3)
    assert not np.allclose(source(x).data, target(x).data)
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(source(x).data, target(x).data)


def test_load_state_dict_writes_into_the_parameters_arrays_and_keeps_their_dtype():
    layer = gl.nn.Linear(2, 2, dtype=np.float32, rng=0)
    array = layer.weight.data
    layer.load_state_dict({"weight": np.eye(2), "bias": [1, 2]})  # float64, ints: to float32
    assert layer.weight.data is array and array.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, np.eye(2))
    np.testing.assert_array_equal(layer.bias.data, [1.0, 2.0])


def test_load_state_dict_missing_and_unexpected_keys_are_errors_naming_them():
    net = Net()
    state = net.state_dict()
    del state["body.2.bias"]
    state["body.9.weight"] = np.zeros(3)
    before = net.state_dict()
    with pytest.raises(gl.nn.StateDictError,
                       match=r"missing key\(s\) 'body.2.bias'; unexpected key\(s\) "
                             r"'body.9.weight'"):
        net.load_state_dict(state)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # nothing written
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["body.2.bias"]
    assert result.unexpected_keys == ["body.9.weight"]


def test_load_state_dict_wrong_shape_names_the_key_and_both_shapes_and_writes_nothing():
    net = Net()
    state = net.state_dict()
    state["body.0.weight"] = np.zeros((3, 4))  # transposed: refused, never loaded silently
    state["body.0.bias"] = np.full(4, 5.0)
    bias = net.body[0].bias.data.copy()
    with pytest.raises(gl.nn.StateDictError,
                       match=r"key 'body.0.weight': expected shape \(4, 3\) .*got \(3, 4\)"):
        net.load_state_dict(state)
    np.testing.assert_array_equal(net.body[0].bias.data, bias)
    with pytest.raises(gl.nn.StateDictError, match="key 'body.0.weight': expected shape"):
        net.load_state_dict(state, strict=False)  # shapes are checked even when not strict
    with pytest.raises(TypeError, match="expected a mapping of names to arrays"):
        net.load_state_dict([1, 2])


def test_train_and_eval_set_the_flag_on_every_sub_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert [m.training for m in net.modules()] == [False] * 6
    net.train()
    assert all(m.training for m in net.modules())
    net.body.train(False)
    assert net.training and not net.body[0].training and net.heads["left"].training


def test_sequential_numbers_its_layers_and_applies_them_in_order():
    seq = gl.nn.Sequential(gl.nn.Linear(2, 3, rng=0), gl.nn.Tanh(), lambda t: t * 2.0)
    assert len(seq) == 3 and isinstance(seq[1], gl.nn.Tanh)
    assert [p for p, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    x = np.array([[0.5, -1.0]])
    np.testing.assert_allclose(seq(x).data,
                               2 * np.tanh(x @ seq[0].weight.data.T + seq[0].bias.data))
    assert len(seq[:2]) == 2
    with pytest.raises(TypeError, match="Sequential layer 3: expected a Module or a callable"):
        seq.append(3)


def test_shared_modules_and_tensors_are_counted_once():
    layer = gl.nn.Linear(2, 2, rng=0)
    seq = gl.nn.Sequential(layer, gl.nn.ReLU(), layer)
    assert len(seq.parameters()) == 2 and list(seq.state_dict()) == ["0.weight", "0.bias"]


# -- gl.save / gl.load -----------------------------------------------------------------------


def test_save_and_load_round_trip_a_state_dict_exactly(tmp_path):
    net = Net()
    path = tmp_path / "net.npz"
    gl.save(net.state_dict(), path)
    loaded = gl.load(path)
    assert list(loaded) == list(net.state_dict())
    for key, value in net.state_dict().items():
        assert loaded[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded[key], value)
    fresh = Net()
    for w in fresh.parameters():
        w.data = w.data * 0.0
    fresh.load_state_dict(gl.load(str(path)))
    x = np.ones((1, 3))
    np.testing.assert_array_equal(fresh(x).data, net(x).data)


def test_save_writes_the_path_as_given_and_numpy_reads_it(tmp_path):
    path = tmp_path / "weights"  # no .npz suffix: none is added
    gl.save({"w": gl.tensor([1.0, 2.0]), "n": 3, "flag": np.array(True)}, path)
    assert path.exists()
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["w"], [1.0, 2.0])
        assert archive["n"] == 3 and archive["n"].shape == ()


def test_save_refuses_what_it_cannot_write_without_pickle(tmp_path):
    with pytest.raises(TypeError, match="key 'a' holds dtype object"):
        gl.save({"a": np.array([{"x": 1}], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="holds a mapping"):
        gl.save({"a": {"b": np.ones(2)}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="expected a mapping"):
        gl.save([np.ones(2)], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="non-empty str"):
        gl.save({1: np.ones(2)}, tmp_path / "x.npz")


class Boom:
    """Unpickling this would run code: the test proves gl.load never does."""

    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('ran')",))


def test_load_never_unpickles_so_a_file_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.savez(tmp_path / "evil.npz", a=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="member 'a' holds pickled objects; gl.load never"):
        gl.load(tmp_path / "evil.npz")
    import pickle

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="not a .npz file"):
        gl.load(tmp_path / "evil.pkl")
    assert not (tmp_path / "PWNED").exists()


def test_load_says_what_is_wrong_with_other_files(tmp_path):
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="holds a single array, not a state dict"):
        gl.load(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError):
        gl.load(tmp_path / "missing.npz")


def test_nn_optim_and_serialize_load_on_first_use_only():
    import subprocess
    import sys

    probe = (
        "import sys, gradledger as gl; "
        "lazy = ('gradledger.nn', 'gradledger.optim', 'gradledger.serialize'); "
        "print([m for m in lazy if m in sys.modules]); "
        "gl.nn.Conv2d, gl.optim.Adam, gl.save; "
        "print([m for m in lazy if m not in sys.modules], 'hypothesis' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "[] False"]
