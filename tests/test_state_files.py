"""State and files are never shared or half-written (issue 17, items 15, 16 and 19):
load_state_dict copies, gl.save is atomic, gl.load refuses partial, damaged and
oversized files before it allocates them, and never runs code."""

import io
import tracemalloc
import warnings
import zipfile

import gradledger as gl
import numpy as np
import pytest


def checkpoint(n: int = 64) -> dict[str, np.ndarray]:
    return {f"layer{i}.W": np.full((4, 4), float(i)) for i in range(n)}


# -- 15: load_state_dict copies ---------------------------------------------------------------


def test_load_state_dict_while_a_graph_is_alive_copies_so_training_never_writes_the_snapshot():
    net = gl.nn.Linear(3, 2, rng=0)
    best = net.state_dict()
    kept = {key: value.copy() for key, value in best.items()}
    out = gl.sum(net(np.ones((4, 3))))  # the graph locks the parameters read-only
    net.load_state_dict(best)
    del out
    for _, p in net.named_tensors():
        assert not any(np.shares_memory(p.data, v) for v in best.values())
    opt = gl.optim.SGD(net, lr=0.5)
    gl.sum(net(np.ones((4, 3)))).backward()
    opt.step()
    for key in best:
        np.testing.assert_array_equal(best[key], kept[key])


def test_optimizer_load_state_dict_copies_its_running_state():
    w = gl.tensor(np.ones(3), requires_grad=True)
    opt = gl.optim.Adam([w], lr=0.1)
    w.grad = np.ones(3)
    opt.step()
    saved = opt.state_dict()
    kept = {key: value.copy() for key, value in saved.items()}
    opt.load_state_dict(saved)
    w.grad = np.ones(3)
    opt.step()
    for key in saved:
        np.testing.assert_array_equal(saved[key], kept[key])


# -- 16: atomic save, refused partial and damaged files ---------------------------------------


def test_an_interrupted_save_leaves_the_old_checkpoint_whole_and_no_stray_file(tmp_path,
                                                                              monkeypatch):
    path = tmp_path / "ckpt.npz"
    gl.save(checkpoint(), path)
    real, calls = np.lib.format.write_array, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 11:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gl.save({key: value + 1 for key, value in checkpoint().items()}, path)
    monkeypatch.undo()
    loaded = gl.load(path)
    assert list(loaded) == list(checkpoint())
    np.testing.assert_array_equal(loaded["layer63.W"], checkpoint()["layer63.W"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]


def test_load_refuses_a_file_holding_fewer_arrays_than_its_manifest_promises(tmp_path):
    whole, partial = tmp_path / "whole.npz", tmp_path / "partial.npz"
    gl.save(checkpoint(), whole)
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(partial, "w") as target:
        for info in source.infolist()[:10]:  # what an interrupted writer leaves: 10 of 64
            target.writestr(info, source.read(info))
        target.comment = source.comment
    with pytest.raises(ValueError, match=r"partial or altered: its manifest promises 64 array"):
        gl.load(partial)


def test_load_refuses_a_truncated_file_saying_so(tmp_path):
    path = tmp_path / "cut.npz"
    gl.save(checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match="is truncated or damaged"):
        gl.load(path)


def test_load_refuses_a_member_whose_bytes_fail_the_zip_crc(tmp_path):
    path = tmp_path / "flipped.npz"
    gl.save({"w": np.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[data.index(b"\x00" * 64) + 8] = 1  # one byte inside the array's data
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"member 'w' is damaged \(Bad CRC-32"):
        gl.load(path)


def test_a_file_without_manifest_from_np_savez_loads_with_a_warning_saying_so(tmp_path):
    path = tmp_path / "numpy.npz"
    np.savez(path, a=np.arange(3.0), b=np.eye(2))
    with pytest.warns(UserWarning, match="no gradledger manifest .* cannot be checked"):
        loaded = gl.load(path)
    np.testing.assert_array_equal(loaded["a"], [0.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gl.save(loaded, path)
        assert list(gl.load(path)) == ["a", "b"]


def test_a_file_gl_save_wrote_loads_writeable_arrays_without_warning(tmp_path):
    path = tmp_path / "ok.npz"
    gl.save({"w": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "n": 3}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = gl.load(path)
    np.testing.assert_array_equal(loaded["w"], np.arange(6.0).reshape(2, 3))
    assert loaded["n"] == 3 and loaded["w"].flags.writeable


# -- 19: bounded allocation ---------------------------------------------------------------------


def bomb(path, claimed_shape=(2**27,)) -> None:
    """A 1 GiB float64 array announced by its header, in a file of a few MiB."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": claimed_shape})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("w.npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            member.write(bytes(2**23))


def test_load_refuses_a_zip_bomb_from_its_header_before_allocating(tmp_path):
    path = tmp_path / "bomb.npz"
    bomb(path)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"member 'w' \(shape \(134217728,\), dtype float64\) "
                                             r"brings the arrays to 1,073,741,824 bytes"):
            gl.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**27  # far below the 1 GiB the header asked for


def test_load_max_bytes_is_the_explicit_way_to_allow_more(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, w=np.zeros(2**19))  # 4 MiB of float64 in a few KiB
    with pytest.raises(ValueError, match=r"more than the 1,048,576 bytes of max_bytes.*"
                                         r"max_bytes=4194304"):
        gl.load(path, max_bytes=2**20)
    with pytest.warns(UserWarning, match="no gradledger manifest"):
        loaded = gl.load(path, max_bytes=2**22)
    assert loaded["w"].shape == (2**19,) and not loaded["w"].any()


def test_saving_guide_blocks_run_and_print_what_they_show(fresh_host):
    from docblocks import ROOT, assert_prints_what_is_shown, run_python_blocks

    path = ROOT / "docs" / "saving.md"
    blocks, _ = run_python_blocks(path, "docs_saving")
    assert len(blocks) >= 1, "the saving guide has lost its example"
    assert_prints_what_is_shown(blocks, path)
