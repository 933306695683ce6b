"""The shipped tables: their shape and value ranges, and the batched trainer that made them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpopt.adapters.table import Table

TABULAR = Path(__file__).parent.parent / "bench" / "tabular"
DATA = TABULAR / "data"


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_table_shape_and_ranges(name):
    path = DATA / f"{name}.npz"
    if not path.exists():
        pytest.fail(f"{path} is missing; make it with: python bench/tabular/make_table.py --datasets {name}")
    table = Table.load(path)
    assert table.num_configs >= 1000 and table.num_seeds >= 2 and table.num_epochs >= 27
    assert set(table.values) == {"n_units_1", "n_units_2", "batch_size", "dropout_1", "dropout_2",
                                 "learning_rate", "weight_decay"}
    assert table.num_configs == int(np.prod([len(v) for v in table.values.values()]))  # the full grid
    assert np.all((table.val_acc >= 0) & (table.val_acc <= 1))
    assert np.all(np.diff(table.elapsed, axis=2) > 0) and np.all(table.elapsed[:, :, 0] > 0)
    assert np.all(np.isnan(table.train_loss) | (table.train_loss >= 0))
    best = table.val_acc[:, :, -1].mean(axis=1).max()
    assert 0.85 < best <= 1.0  # a tuned MLP classifies digits well; chance is 0.1
    assert np.median(table.val_acc[:, :, -1]) < best - 0.02  # and the grid holds worse configurations
    assert table.meta["dataset"] == name and table.meta["generation_seconds"] > 0
    space = table.search_space()
    assert table.index_of({n: sp.decode(0.99) for n, sp in space.items()}) >= 0


def _make_table_module() -> Any:
    """bench/tabular/make_table.py, imported from its folder (it is a script, not part of the package)."""
    sys.path.insert(0, str(TABULAR))
    try:
        import make_table
    finally:
        sys.path.remove(str(TABULAR))
    return make_table


def test_batched_mlp_matches_torch_nn_and_adam():
    torch = pytest.importorskip("torch")
    mt = _make_table_module()
    configs = [{"n_units_1": 8, "n_units_2": 4, "batch_size": 5, "dropout_1": 0.0, "dropout_2": 0.0,
                "learning_rate": lr, "weight_decay": wd} for lr, wd in ((1e-2, 1e-4), (1e-1, 1e-2))]
    gen = torch.Generator().manual_seed(0)
    batched = mt.BatchedMLP(configs, 6, gen)
    singles = []
    for c, cfg in enumerate(configs):
        net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Dropout(0.0), torch.nn.ReLU(),
                                  torch.nn.Linear(8, 4), torch.nn.Dropout(0.0), torch.nn.ReLU(),
                                  torch.nn.Linear(4, 10))
        with torch.no_grad():
            for layer, (w, b) in zip((net[0], net[3], net[6]), zip(batched.params[::2], batched.params[1::2],
                                                                   strict=True), strict=True):
                layer.weight.copy_(w[c].T)
                layer.bias.copy_(b[c, 0])
        singles.append((net, torch.optim.Adam(net.parameters(), lr=cfg["learning_rate"],
                                              weight_decay=cfg["weight_decay"])))
    x, y = torch.randn(40, 6, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    for step in range(8):
        idx = torch.arange(step * 5, step * 5 + 5)
        losses = batched.train_step(x[idx], y[idx], gen)
        for c, (net, opt) in enumerate(singles):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            assert float(losses[c]) == pytest.approx(float(loss.detach()), rel=1e-5, abs=1e-6)
    for c, (net, _) in enumerate(singles):
        assert torch.allclose(batched.params[0][c].T, net[0].weight, atol=1e-5)
        assert torch.allclose(batched.params[4][c].T, net[6].weight, atol=1e-5)
    acc = batched.accuracy(x, y)
    for c, (net, _) in enumerate(singles):
        assert float(acc[c]) == pytest.approx(float((net(x).argmax(1) == y).float().mean()))


def test_batched_dropout_keeps_the_expected_activation():
    torch = pytest.importorskip("torch")
    mt = _make_table_module()
    gen = torch.Generator().manual_seed(1)
    h = torch.ones(2, 500, 200)
    out = mt.BatchedMLP._dropout(h, torch.tensor([0.0, 0.5]).view(2, 1, 1), gen)
    assert torch.equal(out[0], h[0])  # rate 0: untouched
    zeros = float((out[1] == 0).float().mean())
    assert 0.47 < zeros < 0.53 and float(out[1].mean()) == pytest.approx(1.0, abs=0.03)
