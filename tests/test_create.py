"""create(): argument checks with helpful errors, auto config honouring user values, the dummy optimizer."""

from __future__ import annotations

import pytest

import hpopt


def space():
    return {"lr": hpopt.search_space("loguniform", [1e-4, 1e-1]), "bs": hpopt.search_space("quniform", [8, 64, 8])}


def make(tmp_path, **kw):
    args = dict(full_dataset_size=10000, num_full_iterations=20, search_space=space(),
                save_path=str(tmp_path / "h"), search_alg="random")
    args.update(kw)
    return hpopt.create(**args)


def test_typo_keyword_suggests_the_right_name(tmp_path):
    with pytest.raises(TypeError, match="ealry_stop.*did you mean 'early_stop'"):
        make(tmp_path, ealry_stop="median_stop")


@pytest.mark.parametrize("kw, exc, word", [
    (dict(search_alg="randm"), ValueError, "did you mean 'random'"),
    (dict(mode="maximum"), ValueError, "mode"),
    (dict(num_trials=0), ValueError, "num_trials"),
    (dict(num_trials=2.5), TypeError, "num_trials"),
    (dict(max_iterations=True), TypeError, "max_iterations"),
    (dict(subset_ratio=1.5), ValueError, "subset_ratio"),
    (dict(expected_time_ratio=1), ValueError, "expected_time_ratio"),
    (dict(non_pure_train_ratio=1.0), ValueError, "non_pure_train_ratio"),
    (dict(image_resize=[1]), ValueError, "image_resize"),
    (dict(batch_size_name="batch"), ValueError, "batch_size_name"),
    (dict(batch_size_name="lr"), ValueError, "quniform"),
    (dict(num_workers=0), ValueError, "num_workers"),
    (dict(early_stop="median"), ValueError, "early_stop"),
    (dict(full_dataset_size="10"), TypeError, "full_dataset_size"),
    (dict(search_space={}), ValueError, "search"),
    (dict(default_hyper_parameters={"lr": 0.01}), ValueError, "missing"),
    (dict(default_hyper_parameters={"lr": 5.0, "bs": 8}), ValueError, "outside"),
    (dict(resume="yes"), TypeError, "resume"),
])
def test_bad_arguments(tmp_path, kw, exc, word):
    with pytest.raises(exc, match=word):
        make(tmp_path, **kw)


def test_every_search_alg_builds(tmp_path):
    names = {alg: make(tmp_path / alg, search_alg=alg).algorithm_name for alg in hpopt.api.SEARCH_ALGS}
    assert names == {"bayes_opt": "smbo", "baye_opt": "smbo", "smbo": "smbo", "asha": "asha", "random": "random"}


def test_auto_config_fills_only_what_is_unset(tmp_path):
    hpo = make(tmp_path, expected_time_ratio=4)
    assert (hpo.num_trials, hpo.max_iterations) == (20, 7)  # docs/auto_config.md, example (a)
    assert hpo.subset_ratio == pytest.approx(2 / 7)
    hpo.close()
    hpo = make(tmp_path / "b", num_trials=10, max_iterations=3, subset_ratio=0.3)
    assert (hpo.num_trials, hpo.max_iterations, hpo.subset_ratio) == (10, 3, 0.3)
    hpo.close()
    hpo = make(tmp_path / "c", num_trials=10)
    assert hpo.num_trials == 10 and hpo.max_iterations == 10 and hpo.subset_ratio == pytest.approx(0.5)


def test_default_hyper_parameters_come_first(tmp_path):
    hpo = make(tmp_path, num_trials=3, default_hyper_parameters=[{"lr": 0.01, "bs": 32}, {"bs": 16, "lr": 0.001}])
    assert hpo.get_next_sample()["params"] == {"lr": 0.01, "bs": 32}
    assert hpo.get_next_sample()["params"] == {"lr": 0.001, "bs": 16}


def test_dummy_opt():
    opt = hpopt.createDummyOpt()
    assert opt.get_next_sample() is None and opt.is_finished()


def test_create_hpo_dataset_is_a_fixed_subset():
    data = list(range(1000))
    a = hpopt.createHpoDataset(data, {"subset_ratio": 0.25})
    b = hpopt.createHpoDataset(data, {"subset_ratio": 0.25})
    assert len(a) == 250 and [a[i] for i in range(250)] == [b[i] for i in range(250)]
    assert len(set(a[i] for i in range(250))) == 250
    assert hpopt.createHpoDataset(data, {"subset_ratio": 1.0}) is data


def test_core_import_pulls_no_torch():
    import subprocess
    import sys
    code = "import sys, hpopt; bad = [m for m in ('torch', 'torchvision', 'boto3') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Images:
    """A torchvision-like dataset: ``classes`` and samples in the shape the test asks for."""

    classes = ["cat", "dog"]

    def __init__(self, make, n=8):
        self.make, self.n = make, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.make(i)


RESIZE = {"resize_width": 6, "resize_height": 4}


def test_create_hpo_dataset_resizes_tensors_in_tuples_and_dicts():
    torch = pytest.importorskip("torch")
    tuples = hpopt.createHpoDataset(_Images(lambda i: (torch.rand(3, 10, 12), i)), RESIZE)
    image, label = tuples[3]
    assert tuple(image.shape) == (3, 4, 6) and label == 3
    as_uint8 = hpopt.createHpoDataset(_Images(lambda i: (torch.zeros(1, 10, 12, dtype=torch.uint8), i)), RESIZE)
    assert as_uint8[0][0].dtype == torch.uint8 and tuple(as_uint8[0][0].shape) == (1, 4, 6)
    dicts = hpopt.createHpoDataset(_Images(lambda i: {"img": torch.rand(3, 10, 12), "label": i}), RESIZE)
    sample = dicts[5]
    assert tuple(sample["img"].shape) == (3, 4, 6) and sample["label"] == 5
    bare = hpopt.createHpoDataset(_Images(lambda i: torch.rand(3, 10, 12)), RESIZE)
    assert tuple(bare[0].shape) == (3, 4, 6)


def test_create_hpo_dataset_resizes_pil_images():
    image_mod = pytest.importorskip("PIL.Image")
    data = hpopt.createHpoDataset(_Images(lambda i: (image_mod.new("RGB", (12, 10)), i)), RESIZE)
    image, label = data[1]
    assert image.size == (6, 4) and label == 1  # PIL sizes are (width, height)
    data = hpopt.createHpoDataset(_Images(lambda i: {"img": image_mod.new("L", (12, 10))}), RESIZE)
    assert data[0]["img"].size == (6, 4)


def test_create_hpo_dataset_passes_other_samples_through_and_shows_the_datasets_attributes():
    samples = {"list": lambda i: [i, i + 1], "number": lambda i: i, "text": lambda i: f"s{i}",
               "dict without img": lambda i: {"x": i}, "tuple of numbers": lambda i: (i, "label")}
    for name, make in samples.items():
        data = hpopt.createHpoDataset(_Images(make), RESIZE)
        assert [data[i] for i in range(len(data))] == [make(i) for i in range(8)], name
        assert data.classes == ["cat", "dog"], name
    subset = hpopt.createHpoDataset(_Images(lambda i: i, n=100), {"subset_ratio": 0.5, **RESIZE})
    assert len(subset) == 50 and subset.classes == ["cat", "dog"]
    with pytest.raises(AttributeError, match="nothing"):
        subset.nothing  # noqa: B018


def test_create_hpo_dataset_subset_is_a_torch_subset_and_pickles():
    import pickle

    torch_data = pytest.importorskip("torch.utils.data")
    data = hpopt.createHpoDataset(_Images(int, n=20), {"subset_ratio": 0.5})
    assert isinstance(data, torch_data.Subset) and data.classes == ["cat", "dog"]
    again = pickle.loads(pickle.dumps(data))  # DataLoader workers get the dataset pickled
    assert [again[i] for i in range(len(again))] == [data[i] for i in range(len(data))]
    resized = pickle.loads(pickle.dumps(hpopt.createHpoDataset(_Images(int, n=4), RESIZE)))
    assert resized.classes == ["cat", "dog"] and resized[2] == 2
