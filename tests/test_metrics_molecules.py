"""The MOSES molecule metrics (mimkit.evaluation.metrics.molecules) on hand-made SMILES with
answers worked out by hand here; every test but the MissingChemistry one skips without RDKit (the
optional chem extra)."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

from mimkit.evaluation.metrics import molecules as M

needs_rdkit = pytest.mark.skipif(importlib.util.find_spec("rdkit") is None, reason="RDKit is not installed")
needs_fcd = pytest.mark.skipif(importlib.util.find_spec("fcd") is None, reason="fcd is not installed")

INVALID = ["C1CC", "c1ccccc", "Xx", ""]  # unclosed ring, unkekulizable ring, no element, empty
BENZENE, PHENOL, TOLUENE = "c1ccccc1", "Oc1ccccc1", "Cc1ccccc1"


def _bits(smiles: str):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024).GetFingerprint(
        Chem.MolFromSmiles(smiles)
    )


def test_missing_rdkit_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdkit", None)  # `import rdkit` now raises ImportError
    with pytest.raises(M.MissingChemistry) as error:
        M.validity(["CCO"])
    assert str(error.value) == (
        "RDKit is not installed: the molecule metrics need it (pip install -e '.[chem]', or make install)"
    )
    assert isinstance(error.value, RuntimeError)


def test_import_does_not_load_rdkit():
    code = "import sys, mimkit.evaluation.metrics.molecules; assert not {'rdkit', 'fcd'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_rdkit
def test_canonical_and_validity():
    assert M.canonical("OCC") == M.canonical("CCO") == "CCO"
    assert all(M.canonical(s) is None for s in INVALID)
    assert M.validity(INVALID[:3] + ["CCO", "OCC"]) == 2 / 5
    assert M.validity([*INVALID[1:], "CCO", BENZENE]) == 2 / 5
    assert M.validity(["CCO", "C1CC", BENZENE, "Xx", "CC"]) == 3 / 5
    with pytest.raises(ValueError, match="no molecules"):
        M.validity([])


@needs_rdkit
def test_unique_at_k():
    smiles = ["CCO", "Xx", "OCC", BENZENE, "C(O)C", "", TOLUENE]  # valid: ethanol x3, benzene, toluene
    assert M.unique_at(smiles, 1) == 1.0
    assert M.unique_at(smiles, 2) == 1 / 2  # CCO, OCC: one molecule
    assert M.unique_at(smiles, 3) == 2 / 3
    assert M.unique_at(smiles, 1000) == 3 / 5  # k > 5 valid: all 5 taken
    assert math.isnan(M.unique_at(INVALID, 10))


@needs_rdkit
def test_novelty():
    reference = M.canonical_set(["OCC", "Xx", PHENOL])
    assert reference == frozenset({"CCO", "Oc1ccccc1"})
    generated = ["CCO", "C(O)C", BENZENE, "C1CC", TOLUENE, TOLUENE]  # distinct valid: 3, one seen
    assert M.novelty(generated, reference) == 2 / 3
    assert M.novelty(generated, set()) == 1.0
    assert math.isnan(M.novelty(INVALID, reference))


@needs_rdkit
def test_morgan_generator_matches_legacy_bit_vectors():
    from rdkit import Chem
    from rdkit.Chem import AllChem

    smiles = [BENZENE, PHENOL, "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "C[C@H](N)C(=O)O"]
    fps = M.fingerprints(smiles)
    assert fps.shape == (5, 1024) and fps.dtype == np.uint8
    for s, row in zip(smiles, fps):
        legacy = AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(s), 2, nBits=1024)
        assert list(np.flatnonzero(row)) == list(legacy.GetOnBits())
    with pytest.raises(ValueError, match="invalid SMILES"):
        M.fingerprints(["CCO", "Xx"])


def test_tanimoto_matrix_by_hand():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.uint8)
    b = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=np.uint8)
    expected = [[1 / 3, 1.0, 0.0], [0.0, 0.0, 1.0]]  # both empty: 0/0 taken as 1, as MOSES does
    np.testing.assert_allclose(M.tanimoto_matrix(a, b), expected, rtol=1e-6)
    many = np.tile(a, (2100, 1))  # more rows than one block
    assert M.tanimoto_matrix(many, b).shape == (4200, 3)
    np.testing.assert_allclose(M.tanimoto_matrix(many, b)[-2:], expected, rtol=1e-6)


@needs_rdkit
def test_tanimoto_of_identical_molecules_is_one():
    fps = M.fingerprints([PHENOL, "C1=CC=CC=C1O"])
    assert M.tanimoto_matrix(fps, fps).min() == 1.0


@needs_rdkit
def test_internal_diversity():
    from rdkit import DataStructs

    assert M.internal_diversity([TOLUENE] * 4) == 0.0
    assert M.internal_diversity([TOLUENE, "Cc1ccccc1", "Xx"]) == 0.0  # same molecule, invalid dropped
    t = DataStructs.TanimotoSimilarity(_bits(PHENOL), _bits(TOLUENE))  # an independent path
    assert 0 < t < 1
    # MOSES: all 4 ordered pairs, the diagonal (T = 1) included
    assert M.internal_diversity([PHENOL, TOLUENE]) == pytest.approx(1 - (2 + 2 * t) / 4, abs=1e-6)
    # p = 2: each molecule's power mean over the pair ((1 + t^2) / 2)^(1/2), averaged (the same for both)
    two = 1 - ((1 + t**2) / 2) ** 0.5
    assert M.internal_diversity([PHENOL, TOLUENE], p=2) == pytest.approx(two, abs=1e-6)
    # three molecules, p = 2: per-row power means, then their plain mean (not one power mean of all 9)
    s = DataStructs.BulkTanimotoSimilarity(_bits(BENZENE), [_bits(PHENOL), _bits(TOLUENE)])
    rows = [[1, s[0], s[1]], [s[0], 1, t], [s[1], t, 1]]
    by_row = np.mean([np.sqrt(np.mean(np.square(r))) for r in rows])
    assert M.internal_diversity([BENZENE, PHENOL, TOLUENE], p=2) == pytest.approx(1 - by_row, abs=1e-6)
    assert math.isnan(M.internal_diversity(INVALID))


@needs_rdkit
def test_similarity_to_seeds():
    assert M.similarity_to_seeds([PHENOL, "CCO"], ["C1=CC=CC=C1O", "OCC"]) == 1.0
    from rdkit import DataStructs

    t = DataStructs.TanimotoSimilarity(_bits(PHENOL), _bits(TOLUENE))
    # the pairs with an invalid member are skipped: mean of 1 and t
    got = M.similarity_to_seeds([PHENOL, "Xx", BENZENE, PHENOL], [TOLUENE, "CCO", BENZENE, ""])
    assert got == pytest.approx((t + 1) / 2, abs=1e-6)
    assert math.isnan(M.similarity_to_seeds(["Xx"], ["CCO"]))
    with pytest.raises(ValueError):
        M.similarity_to_seeds(["CCO"], [])


TEN = ["CCO", BENZENE, "CC(=O)O", "CCN", "CCCC", "c1ccncc1", "CC(C)O", "OCCO", "CCOC(=O)C", "C1CCCCC1"]
OTHER = ["CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "Clc1ccc(Cl)cc1", "CCCCCCCCCC"] * 3


@needs_rdkit
@needs_fcd
def test_fcd():  # ~2-5 s a distance: scipy's sqrtm of a 512 x 512 matrix dominates
    same = M.generation_metrics(TEN, set(), ks=(5,), with_fcd_reference=TEN[::-1] + ["Xx"])
    assert abs(same["fcd"]) < 1e-2  # the same molecules (the invalid one dropped): ~0
    assert M.fcd(TEN, OTHER) > 1.0
    assert math.isnan(M.fcd(["CCO", "Xx"], TEN))  # one valid molecule: no covariance


@needs_rdkit
def test_fcd_without_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcd", None)
    assert M.fcd(TEN, TEN) is None


@needs_rdkit
def test_generation_metrics(monkeypatch):
    monkeypatch.setitem(sys.modules, "fcd", None)  # no ChemNet here (test_fcd covers it)
    smiles = ["CCO", "OCC", "Xx", TOLUENE]
    got = M.generation_metrics(smiles, M.canonical_set(["CCO"]), ks=(2, 10), with_fcd_reference=TEN)
    assert set(got) == {"validity", "unique@2", "unique@10", "novelty", "int_div", "int_div2"}
    assert got["validity"] == 3 / 4 and got["unique@2"] == 1 / 2 and got["unique@10"] == 2 / 3
    assert got["novelty"] == 1 / 2
    from rdkit import DataStructs

    u = DataStructs.TanimotoSimilarity(_bits("CCO"), _bits(TOLUENE))  # rows: [1, 1, u], [1, 1, u], [u, u, 1]
    assert got["int_div"] == pytest.approx(1 - (5 + 4 * u) / 9, abs=1e-6)
    by_row = (2 * ((2 + u**2) / 3) ** 0.5 + ((2 * u**2 + 1) / 3) ** 0.5) / 3
    assert got["int_div2"] == pytest.approx(1 - by_row, abs=1e-6)
