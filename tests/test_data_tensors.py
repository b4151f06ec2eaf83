"""data=tensors (mimkit.data.tensors): every format written for real into tmp_path, splits by
fraction and from the file, binary detection, every bad input as one line naming the file, the
standardisation through a saved checkpoint, and training runs with and without labels."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from conftest import compose_config

from mimkit.app.cli import run_task
from mimkit.app.embeddings import embed
from mimkit.app.finished import complete_metrics
from mimkit.app.run import train
from mimkit.app.schema import check_node
from mimkit.data.tensors import TensorsDataModule, peek_x_dim
from mimkit.errors import ConfigError
from mimkit.model.autoencoder import Autoencoder, build_autoencoder
from mimkit.model.standardization import Standardization
from mimkit.training.checkpoint_io import load_module

RNG = np.random.default_rng(0)
N, D = 200, 3
X = (RNG.normal(size=(N, D)) * [1.0, 10.0, 0.1] + [5.0, -50.0, 0.0]).astype(np.float32)
Y = RNG.integers(0, 4, size=N)


def rows(x: torch.Tensor) -> set[tuple[float, ...]]:
    return {tuple(row) for row in x.tolist()}


def module(path, **settings) -> TensorsDataModule:
    return TensorsDataModule(str(path), **settings).ready()


def write_csv(path, header, table) -> None:
    lines = ([",".join(header)] if header else []) + [",".join(map(str, row)) for row in table]
    path.write_text("\n".join(lines) + "\n")


# --- formats ---------------------------------------------------------------------------------


def test_npz_with_labels(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=X, y=Y)
    dm = module(path)
    assert peek_x_dim(str(path)) == D and dm.x_shape == (D,) and dm.has_labels
    parts = [dm.train_fixed(), dm.val, dm.test]
    assert [len(p[0]) for p in parts] == [160, 20, 20]  # round(N · 0.1) each to val and test
    x = torch.cat([p[0] for p in parts])
    assert rows(x) == rows(torch.from_numpy(X)) and x.dtype == torch.float32
    # every row keeps its label
    by_row = {tuple(r): int(label) for r, label in zip(X.tolist(), Y)}
    for p in parts:
        assert [by_row[tuple(r)] for r in p[0].tolist()] == p[1].tolist() and p[1].dtype == torch.int64
    batch = next(iter(dm.train_dataloader()))
    assert len(batch) == 2 and batch[0].shape == (128, D)


def test_npy_has_no_labels(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, X)
    dm = module(path)
    assert peek_x_dim(str(path)) == D and not dm.has_labels
    assert dm.test[1] is None and dm.val[1] is None and dm.train_fixed()[1] is None
    assert len(next(iter(dm.train_dataloader()))) == 1  # batches (x,)
    assert len(next(iter(dm.test_dataloader()))) == 1


@pytest.mark.parametrize("layout", ["tensor", "dict"])
def test_pt(tmp_path, layout):
    path = tmp_path / "data.pt"
    x = torch.from_numpy(X).double()
    torch.save(x if layout == "tensor" else {"x": x, "y": torch.from_numpy(Y)}, path)
    dm = module(path)
    assert peek_x_dim(str(path)) == D and dm.has_labels == (layout == "dict")
    assert rows(torch.cat([dm.train_fixed()[0], dm.val[0], dm.test[0]])) == rows(x.float())


def test_csv_with_a_header_and_a_named_label_column(tmp_path):
    path = tmp_path / "data.csv"
    names = np.array(["cat", "dog", "emu", "yak"])[Y]
    write_csv(path, ["a", "species", "b", "c"], [[r[0], n, r[1], r[2]] for r, n in zip(X.tolist(), names)])
    assert peek_x_dim(str(path), "species") == D
    dm = module(path, label_column="species")
    assert dm.class_names == ["cat", "dog", "emu", "yak"]
    x, labels = dm.train_fixed()
    by_row = {tuple(np.float32(r)): int(y) for r, y in zip(X.tolist(), Y)}
    assert [by_row[tuple(np.float32(r))] for r in x.tolist()] == labels.tolist()
    # without label_column the text column is a bad feature: one line naming the row and column
    with pytest.raises(
        ConfigError, match=r"row 2, column 'species': '[a-z]+' is not a number .*label_column"
    ):
        module(path)


def test_csv_without_a_header_label_by_index(tmp_path):
    path = tmp_path / "data.csv"
    write_csv(path, None, [[*r, int(y)] for r, y in zip(X.tolist(), Y)])
    assert peek_x_dim(str(path), 3) == D and peek_x_dim(str(path)) == D + 1
    dm = module(path, label_column=3)
    assert dm.class_names is None and dm.has_labels
    assert sorted(torch.cat([dm.train_fixed()[1], dm.val[1], dm.test[1]]).tolist()) == sorted(Y.tolist())


# --- splits ----------------------------------------------------------------------------------


def test_splits_by_fraction_follow_data_seed(tmp_path):
    path = tmp_path / "data.npy"
    np.save(path, X)
    first = module(path, val_fraction=0.25, test_fraction=0.05)
    assert [len(first.train_fixed()[0]), len(first.val[0]), len(first.test[0])] == [140, 50, 10]
    again = module(path, val_fraction=0.25, test_fraction=0.05)
    assert torch.equal(first.test[0], again.test[0])
    other = module(path, val_fraction=0.25, test_fraction=0.05, data_seed=1)
    assert not torch.equal(first.test[0], other.test[0])
    # training epochs are shuffles of the same rows, from the run seed
    assert rows(first.train_epoch(0)[0]) == rows(first.train_fixed()[0])
    assert not torch.equal(first.train_epoch(0)[0], first.train_epoch(1)[0])


def test_given_splits_are_kept_and_a_missing_one_is_drawn(tmp_path):
    path = tmp_path / "given.npz"
    np.savez(
        path,
        x_train=X[:150],
        y_train=Y[:150],
        x_val=X[150:170],
        y_val=Y[150:170],
        x_test=X[170:],
        y_test=Y[170:],
    )
    dm = module(path)
    assert torch.equal(dm.val[0], torch.from_numpy(X[150:170])) and torch.equal(
        dm.test[1], torch.from_numpy(Y[170:])
    )
    assert rows(dm.train_fixed()[0]) == rows(torch.from_numpy(X[:150]))
    # no x_val: drawn from the training rows by val_fraction
    path = tmp_path / "no_val.npz"
    np.savez(path, x_train=X[:150], x_test=X[170:])
    dm = module(path, val_fraction=0.2)
    assert (
        len(dm.val[0]) == 30
        and len(dm.train_fixed()[0]) == 120
        and torch.equal(dm.test[0], torch.from_numpy(X[170:]))
    )
    assert rows(torch.cat([dm.train_fixed()[0], dm.val[0]])) == rows(torch.from_numpy(X[:150]))


def test_csv_split_column(tmp_path):
    path = tmp_path / "data.csv"
    marks = ["train"] * 150 + ["val"] * 20 + ["TEST"] * 30
    write_csv(path, ["a", "b", "c", "split", "y"], [[*r, m, y] for r, m, y in zip(X.tolist(), marks, Y)])
    assert peek_x_dim(str(path), "y") == D
    dm = module(path, label_column="y")
    assert [len(dm.train_fixed()[0]), len(dm.val[0]), len(dm.test[0])] == [150, 20, 30]
    assert torch.allclose(dm.test[0], torch.from_numpy(X[170:])) and dm.test[1].tolist() == Y[170:].tolist()


# --- binary data and standardisation ----------------------------------------------------------


def test_binary_data_are_detected_and_not_standardised(tmp_path, caplog):
    path = tmp_path / "bits.npy"
    np.save(path, (X > 0).astype(np.uint8))
    with caplog.at_level(logging.INFO):
        dm = module(path)
    assert dm.binary is True and dm.standardization is None
    assert "binary (detected: every value is 0 or 1)" in caplog.text
    assert module(path, binary=False).binary is False  # kept continuous on request
    assert module(path, binary=False).standardization is not None
    continuous = tmp_path / "real.npy"
    np.save(continuous, X)
    assert module(continuous).binary is False
    with pytest.raises(
        ConfigError, match=r"real.npy.*data.binary=true but the \w+ split holds values other than 0"
    ):
        module(continuous, binary=True)


def test_standardization_statistics_are_the_training_split_s(tmp_path):
    path = tmp_path / "data.npy"
    constant = X.copy()
    constant[:, 2] = 7.0
    np.save(path, constant)
    dm = module(path)
    train = dm.train_fixed()[0].double()
    stats = dm.standardization
    assert np.allclose(stats["shift"], train.mean(0).numpy(), rtol=1e-6)
    assert np.allclose(stats["scale"][:2], train.std(0, unbiased=False)[:2].numpy(), rtol=1e-6)
    assert stats["scale"][2] == 1.0  # a constant feature is centred, not scaled
    assert module(path, standardize=False).standardization is None


def test_a_standardised_model_works_in_the_data_s_units():
    """embed / reconstruct / nll / sample of x equal those of an unstandardised copy of the
    networks on (x − shift) / scale, mapped back (nll: + Σ log scale)."""
    torch.manual_seed(0)
    model = {
        "latent_dim": 2,
        "encoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": D, "out_dim": 2, "hidden": 8},
        "decoder": {"_target_": "mimkit.model.nets.mlp.GaussianMLP", "in_dim": 2, "out_dim": D, "hidden": 8},
    }
    prior = {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"}
    stats = {"shift": [5.0, -50.0, 0.0], "scale": [1.0, 10.0, 0.1]}
    scaled = build_autoencoder(model, prior, stats)
    plain = build_autoencoder(model, prior)
    plain.load_state_dict(scaled.state_dict())  # the same keys: shift and scale are not in it
    assert set(scaled.state_dict()) == set(plain.state_dict())
    shift, scale = torch.tensor(stats["shift"]), torch.tensor(stats["scale"])
    x = torch.from_numpy(X[:32])
    z = (x - shift) / scale
    assert torch.allclose(scaled.embed(x), plain.embed(z), atol=1e-6)
    assert torch.allclose(
        scaled.reconstruct(x, sample=False), plain.reconstruct(z, sample=False) * scale + shift, atol=1e-4
    )
    torch.manual_seed(1)
    nll = scaled.nll(x, samples=20)
    torch.manual_seed(1)
    assert torch.allclose(nll, plain.nll(z, samples=20) + scale.log().sum(), atol=1e-4)
    torch.manual_seed(2)
    drawn = scaled.sample(5, mean=True)
    torch.manual_seed(2)
    assert torch.allclose(drawn, plain.sample(5, mean=True) * scale + shift, atol=1e-4)
    assert isinstance(scaled.standardization, Standardization) and isinstance(scaled, Autoencoder)


# --- bad input --------------------------------------------------------------------------------


def _ragged_npy(path):
    np.save(path, np.array([np.zeros(2), np.zeros(3)], dtype=object), allow_pickle=True)


BAD = {
    "missing file": ("none.npz", None, {}, r"'.*none.npz': no such file"),
    "unknown format": ("data.txt", lambda p: p.write_text("1,2\n"), {}, r"unknown format '.txt'"),
    "wrong key": ("k.npz", lambda p: np.savez(p, X=X), {}, r"no array 'x' or 'x_train' \(its keys: 'X'\)"),
    "extra key": ("e.npz", lambda p: np.savez(p, x=X, lables=Y), {}, r"unexpected keys 'lables'"),
    "two layouts": ("t.npz", lambda p: np.savez(p, x=X, x_train=X), {}, r"both 'x' and 'x_train'"),
    "splits without train": ("s.npz", lambda p: np.savez(p, x_val=X, x_test=X), {}, r"no 'x_train'"),
    "labels of some splits": (
        "l.npz",
        lambda p: np.savez(p, x_train=X, y_train=Y, x_test=X),
        {},
        r"labels for some splits only: no 'y_test'",
    ),
    "nan": (
        "n.npy",
        lambda p: np.save(p, np.where(np.arange(N)[:, None] == 7, np.nan, X)),
        {},
        r"1?\d* NaN or infinite values \(the first in row 7, column 0",
    ),
    "inf": (
        "i.npz",
        lambda p: np.savez(p, x=np.where(X > 5, np.inf, X)),
        {},
        r"'x' holds \d+ NaN or infinite",
    ),
    "ragged npy": ("r.npy", _ragged_npy, {}, r"'x' is an object array \(ragged rows"),
    "ragged csv": (
        "r.csv",
        lambda p: p.write_text("a,b\n1,2\n3\n"),
        {},
        r"row 3 has 1 fields, the first row 2 \(ragged rows\)",
    ),
    "ragged pt": (
        "r.pt",
        lambda p: torch.save({"x": [torch.zeros(2), torch.zeros(3)]}, p),
        {},
        r"'x' is a list, not a tensor",
    ),
    "1-D x": (
        "o.npy",
        lambda p: np.save(p, X[:, 0]),
        {},
        r"'x' has shape \[200\]: data=tensors takes a 2-D array",
    ),
    "3-D x": ("t.npy", lambda p: np.save(p, X.reshape(N, D, 1)), {}, r"has shape \[200, 3, 1\]"),
    "mismatched splits": (
        "m.npz",
        lambda p: np.savez(p, x_train=X, x_test=X[:, :2]),
        {},
        r"different numbers of features \('x_train' 3, 'x_test' 2\)",
    ),
    "labels of another length": (
        "y.npz",
        lambda p: np.savez(p, x=X, y=Y[:-5]),
        {},
        r"'y' holds 195 labels for the 200 rows of 'x'",
    ),
    "fractional labels": ("f.npz", lambda p: np.savez(p, x=X, y=Y + 0.5), {}, r"non-integer values"),
    "text in x": ("x.npz", lambda p: np.savez(p, x=np.array([["a", "b"]] * 5)), {}, r"'x' holds <U1 values"),
    "empty csv field": (
        "e.csv",
        lambda p: p.write_text("a,b\n1,2\n3,\n"),
        {},
        r"row 3, column 'b': an empty field",
    ),
    "no label column": (
        "c.csv",
        lambda p: p.write_text("a,b\n1,2\n"),
        {"label_column": "y"},
        r"no column 'y' \(data.label_column\)",
    ),
    "label column on npz": (
        "p.npz",
        lambda p: np.savez(p, x=X),
        {"label_column": "y"},
        r"label_column applies to .csv files only",
    ),
    "bad split mark": (
        "s.csv",
        lambda p: p.write_text("a,split\n1,train\n2,dev\n"),
        {},
        r"row 3, column 'split': 'dev' is not one of",
    ),
    "empty file": ("z.csv", lambda p: p.write_text(""), {}, r"is empty"),
    "corrupt npz": ("c.npz", lambda p: p.write_bytes(b"not a zip"), {}, r"not a readable .npz file"),
    "too few rows": (
        "few.npy",
        lambda p: np.save(p, X[:4]),
        {},
        r"4 rows are too few .* the val and test split would be empty",
    ),
    "x_dim of another size": (
        "d.npy",
        lambda p: np.save(p, X),
        {"x_dim": 5},
        r"holds 3 features per row but data.x_dim is 5",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_file(tmp_path, case):
    name, write, settings, pattern = BAD[case]
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(ConfigError, match=pattern) as error:
        module(path, **settings)
    message = str(error.value)
    assert "\n" not in message and name in message
    if case not in (
        "labels of some splits",
        "x_dim of another size",
        "too few rows",
        "nan",
        "inf",
        "mismatched splits",
        "labels of another length",
        "fractional labels",
        "text in x",
        "empty csv field",
        "bad split mark",
        "ragged csv",  # the header reads 2 rows only
    ):
        # problems of the file's layout are found when the config is resolved, from the header
        with pytest.raises(ConfigError, match=pattern):
            peek_x_dim(str(path), settings.get("label_column"))


def test_bad_fractions_and_an_unset_path():
    with pytest.raises(ConfigError, match="val_fraction \\+ data.test_fraction = 1 leaves no training rows"):
        TensorsDataModule("x.npy", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="data.path is not set"):
        peek_x_dim(None)
    with pytest.raises(ConfigError, match="data.path is not set: data=tensors needs data.path=FILE"):
        TensorsDataModule()


def test_the_config_node_is_checked_by_the_schema():
    node = {"_target_": "mimkit.data.tensors.TensorsDataModule", "path": "a.npz", "x_dim": 3}
    check_node("data", node)
    with pytest.raises(ConfigError, match=r"data.val_fraction must be less than or equal to 1, got 1.5"):
        check_node("data", {**node, "val_fraction": 1.5})
    with pytest.raises(ConfigError, match="unknown key 'lable_column'.*did you mean 'label_column'"):
        check_node("data", {**node, "lable_column": "y"})


# --- the real pipeline ------------------------------------------------------------------------

TINY = [
    "debug=fast_dev_run",
    "trainer.enable_progress_bar=false",
    "callbacks.fig2_plot=null",
    "logger=none",
    "callbacks.lr_monitor=null",
]


def test_a_bad_file_ends_the_run_in_one_line_before_any_work(train_config, tmp_path, capsys):
    path = tmp_path / "nan.npz"
    np.savez(path, x=np.full((10, 2), np.nan))
    cfg = train_config("data=tensors", f"data.path={path}", *TINY, fast=False, output_dir=tmp_path / "run")
    with pytest.raises(SystemExit) as ended:
        run_task(train, cfg)
    assert ended.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    problem = "'x' holds 20 NaN or infinite values (the first in row 0, column 0, counting from 0)"
    assert err == [f"error: data.path {str(path)!r}: {problem}"]
    assert not (tmp_path / "run" / "checkpoints").exists()
    # a file that is not there: found when the config is resolved (the resolver's ConfigError, unwrapped)
    cfg = train_config(
        "data=tensors", f"data.path={tmp_path / 'gone.npy'}", *TINY, fast=False, output_dir=tmp_path / "run"
    )
    with pytest.raises(SystemExit):
        run_task(train, cfg)
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: data.path {str(tmp_path / 'gone.npy')!r}: no such file"
    ]


def test_training_with_labels_and_the_standardisation_through_the_checkpoint(train_config, tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=X, y=Y)
    run = tmp_path / "run"
    cfg = train_config(
        "data=tensors",
        f"data.path={path}",
        *TINY,
        "trainer.fast_dev_run=false",
        "trainer.max_epochs=1",
        "warmup=0",
        fast=False,
        output_dir=run,
    )
    metrics = train(cfg)
    written = json.loads((run / "metrics.json").read_text())
    assert 0 <= written["test/probe_acc"] <= 1 and "test/knn5" in written and "skipped" not in written
    assert written["test/probe_acc"] == pytest.approx(metrics["test/probe_acc"])
    # the statistics are in the checkpoint as plain values (weights_only), and the model uses them
    ckpt = run / "checkpoints" / "last.ckpt"
    stored = torch.load(ckpt, weights_only=True)["hyper_parameters"]["standardization"]
    dm = module(path)
    assert stored == dm.standardization
    model = load_module(str(ckpt)).model
    assert torch.equal(model.standardization.shift, torch.tensor(stored["shift"]))
    plain = build_autoencoder(cfg.model, {"_target_": "mimkit.model.priors.standard.StandardNormalPrior"})
    plain.load_state_dict(model.state_dict())
    x = dm.test[0]
    scaled = (x - torch.tensor(stored["shift"])) / torch.tensor(stored["scale"])
    assert torch.allclose(model.embed(x), plain.embed(scaled), atol=1e-5)


def test_training_without_labels_records_what_was_skipped(train_config, tmp_path, caplog):
    path = tmp_path / "data.npy"
    np.save(path, X)
    run = tmp_path / "run"
    cfg = train_config(
        "data=tensors",
        f"data.path={path}",
        *TINY,
        "callbacks.tsne.images_only=false",
        fast=False,
        output_dir=run,
    )
    with caplog.at_level(logging.INFO):
        metrics = train(cfg)
    written = json.loads((run / "metrics.json").read_text())
    why = "the data have no labels"
    assert written["skipped"] == {"test/knn": why, "test/probe_acc": why, "tsne.png colours": why}
    assert not any(name.startswith(("test/knn", "test/probe")) for name in written)
    assert "test/mi" in metrics and "test/nll" in metrics and (run / "tsne.png").is_file()
    assert sum("skipped:" in record.getMessage() for record in caplog.records) == 1
    # a finished run's metrics.json still counts as complete (skip_finished)
    assert complete_metrics(run / "metrics.json", "val/loss") == pytest.approx(
        {k: v for k, v in written.items() if k != "skipped"}
    )
    # embeddings.npz of data without labels: no labels array
    embed(compose_config("embed", [f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}"], tmp_path / "embed"))
    arrays = np.load(tmp_path / "embed" / "embeddings.npz")
    assert "labels" not in arrays and arrays["mean"].shape == (20, 2)


def test_binary_data_with_a_gaussian_decoder_get_advice(train_config, tmp_path, caplog):
    path = tmp_path / "bits.npz"
    np.savez(path, x=(X > 0).astype(np.float32), y=Y)
    cfg = train_config(
        "data=tensors", f"data.path={path}", *TINY, "callbacks.representation_metrics=null", fast=False
    )
    with caplog.at_level(logging.WARNING):
        train(cfg)
    assert "use model=mlp_bernoulli for the Bernoulli decoder" in caplog.text
    caplog.clear()
    cfg = train_config(
        "data=tensors",
        f"data.path={path}",
        "model=mlp_bernoulli",
        *TINY,
        "callbacks.representation_metrics=null",
        fast=False,
        output_dir=tmp_path / "bernoulli",
    )
    with caplog.at_level(logging.WARNING):
        train(cfg)
    assert "mlp_bernoulli" not in caplog.text
    # 0/1 data kept continuous and standardised cannot go to a Bernoulli decoder
    cfg = train_config(
        "data=tensors",
        f"data.path={path}",
        "data.binary=false",
        "model=mlp_bernoulli",
        *TINY,
        fast=False,
        output_dir=tmp_path / "refused",
    )
    with pytest.raises(ConfigError, match="standardised .* but the decoder p\\(x\\|z\\) is Bernoulli"):
        train(cfg)
