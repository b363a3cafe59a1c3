"""The new layers, losses and schedules against PyTorch itself, in float64 (and BatchNorm in
float32 against float64). PyTorch is an optional oracle: without it these tests skip."""

import gradledger as gl
import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = gl.nn.functional
TF = torch.nn.functional
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def float64_torch():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def exported(module) -> dict:
    """A PyTorch state dict as a user exports it: {key: value.numpy()}."""
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def agree(ours, theirs, ulps=64.0):
    ours = np.asarray(ours.data if isinstance(ours, gl.Tensor) else ours)
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    if theirs.dtype.kind != "f":
        np.testing.assert_array_equal(ours, theirs)
        return
    scale = max(float(np.max(np.abs(theirs), initial=0.0)), 1.0)
    assert np.max(np.abs(ours - theirs), initial=0.0) <= ulps * np.finfo(theirs.dtype).eps * scale


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 4 * 4, 6)
        self.norm = torch.nn.LayerNorm(6)
        self.emb = torch.nn.Embedding(5, 6, padding_idx=0)
        self.lstm = torch.nn.LSTM(6, 3, num_layers=2, batch_first=True)
        self.gru = torch.nn.GRU(3, 3)
        self.attn = torch.nn.MultiheadAttention(6, 2, batch_first=True)

    def forward(self, images, ids):
        h = TF.max_pool2d(torch.relu(self.bn(self.conv(images))), 2).flatten(1)
        h = self.norm(TF.gelu(self.fc(h), approximate="tanh"))
        seq = self.emb(ids) + h[:, None, :]
        seq, _ = self.attn(seq, seq, seq, need_weights=False, is_causal=True,
                           attn_mask=torch.triu(torch.ones(4, 4, dtype=torch.bool), 1))
        out, _ = self.lstm(seq)
        out, _ = self.gru(out)
        return out


class Net(gl.nn.Module):
    def __init__(self):
        self.conv = gl.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = gl.nn.BatchNorm2d(4)
        self.fc = gl.nn.Linear(4 * 4 * 4, 6)
        self.norm = gl.nn.LayerNorm(6)
        self.emb = gl.nn.Embedding(5, 6, padding_idx=0)
        self.lstm = gl.nn.LSTM(6, 3, num_layers=2, batch_first=True)
        self.gru = gl.nn.GRU(3, 3)
        self.attn = gl.nn.MultiheadAttention(6, 2, batch_first=True)

    def forward(self, images, ids):
        h = F.flatten(F.max_pool2d(gl.relu(self.bn(self.conv(images))), 2))
        h = self.norm(F.gelu(self.fc(h), approximate="tanh"))
        seq = self.emb(ids) + gl.expand_dims(h, 1)
        seq, _ = self.attn(seq, seq, seq, need_weights=False, is_causal=True)
        out, _ = self.lstm(seq)
        out, _ = self.gru(out)
        return out


def test_a_pytorch_state_dict_exported_as_numpy_loads_and_gives_pytorchs_outputs_and_grads():
    theirs, ours = TorchNet(), Net()
    result = ours.load_state_dict(exported(theirs))  # strict: every key, buffers included
    assert result.missing_keys == [] and result.unexpected_keys == []
    images, ids = RNG.standard_normal((3, 1, 8, 8)), RNG.integers(0, 5, (3, 4))
    u = RNG.standard_normal((3, 4, 3))
    t_out = theirs(torch.tensor(images), torch.tensor(ids))
    (t_out * torch.tensor(u)).sum().backward()
    out = ours(gl.tensor(images), ids)
    gl.sum(out * u).backward()
    agree(out, t_out)
    t_params = dict(theirs.named_parameters())
    for key, w in ours.named_parameters():
        agree(w.grad, t_params[key].grad)
    for key, value in exported(theirs).items():  # the running statistics moved alike
        agree(ours.state_dict()[key], value)


def test_float32_batchnorm_is_within_twice_pytorchs_float32_error_against_float64():
    x = (RNG.standard_normal((64, 8, 12, 12)) * 2.0 + 30.0).astype(np.float32)
    u = RNG.standard_normal(x.shape).astype(np.float32)
    reference = {}
    for dtype in (torch.float64, torch.float32):
        bn = torch.nn.BatchNorm2d(8).to(dtype)
        tx = torch.tensor(x, dtype=dtype, requires_grad=True)
        out = bn(tx)
        (out * torch.tensor(u, dtype=dtype)).sum().backward()
        reference[dtype] = [t.detach().double().numpy() for t in (out, tx.grad, bn.weight.grad,
                                                                 bn.running_var)]
    bn = gl.nn.BatchNorm2d(8, dtype=np.float32)
    gx = gl.tensor(x, requires_grad=True)
    out = bn(gx)
    gl.sum(out * u).backward()
    ours = [np.asarray(a, dtype=np.float64)
            for a in (out.data, gx.grad, bn.weight.grad, bn.running_var.data)]
    for mine, single, double in zip(ours, reference[torch.float32], reference[torch.float64],
                                    strict=True):
        torch_error = np.max(np.abs(single - double))
        floor = 4 * np.finfo(np.float32).eps * np.max(np.abs(double))
        assert np.max(np.abs(mine - double)) <= 2 * max(torch_error, floor)


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_and_its_grad_agree_with_pytorch(approximate):
    if approximate == "none" and "erf" not in gl.ops:
        pytest.skip("no plugin registers an erf op here")
    x = np.linspace(-8, 8, 41)
    tx = torch.tensor(x, requires_grad=True)
    TF.gelu(tx, approximate=approximate).sum().backward()
    gx = gl.tensor(x, requires_grad=True)
    out = F.gelu(gx, approximate=approximate)
    gl.sum(out).backward()
    agree(out, TF.gelu(torch.tensor(x), approximate=approximate))
    agree(gx.grad, tx.grad)


def test_losses_agree_with_pytorch():
    p = RNG.uniform(0.01, 0.99, (5, 3))
    y = RNG.integers(0, 2, (5, 3)).astype(float)
    z = RNG.standard_normal((5, 3)) * 4
    pw = np.array([0.5, 2.0, 3.0])
    agree(F.binary_cross_entropy(gl.tensor(p), y),
          TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y)))
    agree(F.binary_cross_entropy_with_logits(gl.tensor(z), y, pos_weight=pw),
          TF.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y),
                                              pos_weight=torch.tensor(pw)))
    logits = RNG.standard_normal((6, 4))
    labels = np.array([0, 3, -100, 1, 2, -100])
    for smoothing in (0.0, 0.2):
        for reduction in ("mean", "sum", "none"):
            tl = torch.tensor(logits, requires_grad=True)
            expected = TF.cross_entropy(tl, torch.tensor(labels), reduction=reduction,
                                        label_smoothing=smoothing)
            expected.sum().backward()
            gl_logits = gl.tensor(logits, requires_grad=True)
            loss = F.cross_entropy(gl_logits, labels, reduction=reduction,
                                   label_smoothing=smoothing)
            gl.sum(loss).backward()
            agree(loss, expected)
            agree(gl_logits.grad, tl.grad)


def test_linear_with_bias_agrees_with_pytorch():
    x, w, b = RNG.normal(size=(2, 5, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=3)
    g = RNG.normal(size=(2, 5, 3))
    ours = [gl.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.linear(*ours)
    assert out.op == "linear_bias"
    gl.sum(out * g).backward()
    (TF.linear(*theirs) * torch.from_numpy(g)).sum().backward()
    agree(out, TF.linear(*theirs))
    for o, t in zip(ours, theirs, strict=True):
        agree(o.grad, t.grad)


def test_lstm_with_initial_state_agrees_with_pytorch_outputs_states_and_grads():
    theirs = torch.nn.LSTM(3, 4, num_layers=2)
    ours = gl.nn.LSTM(3, 4, num_layers=2)
    ours.load_state_dict(exported(theirs))
    x, h0, c0 = RNG.normal(size=(5, 2, 3)), RNG.normal(size=(2, 2, 4)), RNG.normal(size=(2, 2, 4))
    probes = [RNG.normal(size=s) for s in ((5, 2, 4), (2, 2, 4), (2, 2, 4))]
    out, (h_n, c_n) = ours(gl.tensor(x), (gl.tensor(h0), gl.tensor(c0)))
    t_out, (t_h, t_c) = theirs(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    for a, b in ((out, t_out), (h_n, t_h), (c_n, t_c)):
        agree(a, b)
    sum(gl.sum(a * p) for a, p in zip((out, h_n, c_n), probes, strict=True)).backward()
    sum((b * torch.from_numpy(p)).sum() for b, p in zip((t_out, t_h, t_c), probes,
                                                          strict=True)).backward()
    for name, param in theirs.named_parameters():
        agree(getattr(ours, name).grad, param.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"need_weights": False}, {"need_weights": False,
                                                                  "is_causal": True},
                                    {"average_attn_weights": False}])
def test_multihead_attention_fused_or_not_agrees_with_pytorch(batch_first, kwargs):
    theirs = torch.nn.MultiheadAttention(6, 2, batch_first=batch_first)
    ours = gl.nn.MultiheadAttention(6, 2, batch_first=batch_first)
    ours.load_state_dict(exported(theirs))
    x, probe = RNG.normal(size=(4, 3, 6)), RNG.normal(size=(4, 3, 6))
    t_kwargs = dict(kwargs)
    if kwargs.get("is_causal"):  # PyTorch needs the mask beside its is_causal hint
        t_kwargs["attn_mask"] = torch.triu(torch.ones(4, 4, dtype=torch.bool), 1)
    out, weights = ours(gl.tensor(x), x, x, **kwargs)
    t_x = torch.tensor(x)
    t_out, t_weights = theirs(t_x, t_x, t_x, **t_kwargs)
    agree(out, t_out)
    assert (weights is None) == (t_weights is None)
    if weights is not None:
        agree(weights, t_weights)
    gl.sum(out * probe).backward()
    (t_out * torch.from_numpy(probe)).sum().backward()
    mine = dict(ours.named_parameters())
    for name, param in theirs.named_parameters():
        agree(mine[name].grad, param.grad)


def test_scaled_dot_product_attention_agrees_with_pytorch():
    q, k, v = (RNG.standard_normal((2, 3, 5, 4)) for _ in range(3))
    allowed = RNG.random((5, 5)) > 0.3
    np.fill_diagonal(allowed, True)
    for kwargs, t_kwargs in (({"is_causal": True}, {"is_causal": True}),
                             ({"attn_mask": allowed}, {"attn_mask": torch.tensor(allowed)})):
        agree(F.scaled_dot_product_attention(gl.tensor(q), k, v, **kwargs),
              TF.scaled_dot_product_attention(*map(torch.tensor, (q, k, v)), **t_kwargs))


@pytest.mark.parametrize("causal", [False, True])
def test_attention_over_packed_qkv_agrees_with_pytorchs_split_view_and_sdpa(causal):
    b, t, heads, size = 2, 5, 3, 4
    e = heads * size
    qkv, probe = RNG.normal(size=(b, t, 3 * e)), RNG.normal(size=(b, t, e))
    ours = gl.tensor(qkv, requires_grad=True)
    out = gl.attention_qkv(ours, heads=heads, is_causal=causal)
    gl.sum(out * probe).backward()
    theirs = torch.tensor(qkv, requires_grad=True)
    q, k, v = (z.view(b, t, heads, -1).transpose(1, 2) for z in theirs.split(e, dim=-1))
    t_out = TF.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2)
    t_out = t_out.reshape(b, t, e)
    (t_out * torch.from_numpy(probe)).sum().backward()
    agree(out, t_out)
    agree(ours.grad, theirs.grad)


def test_token_position_embedding_agrees_with_pytorchs_two_embeddings_added():
    tokens, positions = torch.nn.Embedding(7, 4), torch.nn.Embedding(6, 4)
    ids, probe = RNG.integers(0, 7, size=(3, 5)), RNG.normal(size=(3, 5, 4))
    t_out = tokens(torch.tensor(ids)) + positions(torch.arange(5))
    (t_out * torch.from_numpy(probe)).sum().backward()
    ours = [gl.tensor(m.weight.detach().numpy().copy(), requires_grad=True)
            for m in (tokens, positions)]
    out = gl.token_position_embedding(*ours, ids)
    gl.sum(out * probe).backward()
    agree(out, t_out)
    agree(ours[0].grad, tokens.weight.grad)
    agree(ours[1].grad, positions.weight.grad)


def test_linear_gelu_agrees_with_pytorchs_linear_then_tanh_gelu():
    fc = torch.nn.Linear(4, 6)
    x, probe = RNG.normal(size=(3, 5, 4)), RNG.normal(size=(3, 5, 6))
    tx = torch.tensor(x, requires_grad=True)
    t_out = TF.gelu(fc(tx), approximate="tanh")
    (t_out * torch.from_numpy(probe)).sum().backward()
    ours = [gl.tensor(a, requires_grad=True)
            for a in (x, fc.weight.detach().numpy().copy(), fc.bias.detach().numpy().copy())]
    out = gl.linear_gelu(*ours)
    gl.sum(out * probe).backward()
    agree(out, t_out)
    for mine, theirs in zip(ours, (tx, fc.weight, fc.bias), strict=True):
        agree(mine.grad, theirs.grad)


def test_cells_agree_with_pytorch():
    for t_cls, g_cls in ((torch.nn.LSTMCell, gl.nn.LSTMCell), (torch.nn.GRUCell, gl.nn.GRUCell)):
        theirs, ours = t_cls(3, 4), g_cls(3, 4)
        ours.load_state_dict(exported(theirs))
        x, h, c = (RNG.standard_normal((2, n)) for n in (3, 4, 4))
        if t_cls is torch.nn.LSTMCell:
            agree(ours(gl.tensor(x), (h, c))[1],
                  theirs(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))[1])
        else:
            agree(ours(gl.tensor(x), h), theirs(torch.tensor(x), torch.tensor(h)))


def test_init_fans_and_gains_agree_with_pytorch():
    for shape in ((5, 3), (6, 4, 3, 3)):
        assert (gl.nn.init._fans(gl.zeros(*shape), "test")
                == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape)))
    for name, param in (("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None)):
        assert gl.nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param), rel=1e-15)


def schedule_lrs(optimizer, scheduler, steps, metrics=None):
    seen = []
    for k in range(steps):
        optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[k])
        group = optimizer.param_groups[0]
        seen.append((group["lr"], group.get("momentum", group.get("betas", (0.0,))[0])))
    return seen


@pytest.mark.parametrize("name", ["lambda", "linear", "sequential", "onecycle", "onecycle3",
                                  "plateau"])
def test_schedules_agree_with_pytorch_bit_for_bit(name):
    T, G = torch.optim.lr_scheduler, gl.optim.lr_scheduler
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8] * 3 if name == "plateau" else None

    def make(lib, sched, optimizer):
        return {
            "lambda": lambda: sched.LambdaLR(optimizer, lambda e: 0.95 ** e),
            "linear": lambda: sched.LinearLR(optimizer, 0.01, 1.0, 10),
            "sequential": lambda: sched.SequentialLR(
                optimizer, [sched.LinearLR(optimizer, 0.01, 1.0, 5),
                            sched.CosineAnnealingLR(optimizer, 20)], [5]),
            "onecycle": lambda: sched.OneCycleLR(optimizer, 1.0, total_steps=31),
            "onecycle3": lambda: sched.OneCycleLR(optimizer, 1.0, total_steps=31,
                                                  three_phase=True, anneal_strategy="linear"),
            "plateau": lambda: sched.ReduceLROnPlateau(optimizer, patience=2, cooldown=1),
        }[name]()

    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    g_opt = gl.optim.SGD([gl.tensor(np.zeros(2), requires_grad=True)], lr=0.1, momentum=0.9)
    steps = len(metrics) if metrics else 30
    expected = schedule_lrs(t_opt, make(torch, T, t_opt), steps, metrics)
    assert schedule_lrs(g_opt, make(gl, G, g_opt), steps, metrics) == expected
