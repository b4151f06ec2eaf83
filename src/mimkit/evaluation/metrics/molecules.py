"""MOSES metrics of generated molecules (Polykovskiy et al. 2020; docs/maths.md §3), on lists of SMILES.

RDKit (and `fcd`, for the Fréchet ChemNet Distance) are an optional extra, imported only when a
function needs them: without RDKit those functions raise `MissingChemistry`. As in MOSES, a SMILES
is valid when it is not empty and RDKit parses and sanitizes it, and molecules are compared by
their RDKit canonical SMILES. Fingerprints are Morgan bits, radius 2, 1024 bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from mimkit.evaluation.metrics.sequences import novel_fraction, unique_fraction

BLOCK = 2048  # rows of a Tanimoto block: BLOCK x N float32 similarities in memory at a time


class MissingChemistry(RuntimeError):
    """RDKit, which the molecule metrics need, is not installed."""


def _chem() -> tuple[ModuleType, ModuleType, ModuleType]:
    """RDKit's Chem, AllChem and DataStructs modules (imported here, not with this module)."""
    try:
        from rdkit import Chem, DataStructs, rdBase
        from rdkit.Chem import AllChem
    except ImportError as error:
        raise MissingChemistry(
            "RDKit is not installed: the molecule metrics need it (pip install -e '.[chem]', or make install)"
        ) from error
    rdBase.DisableLog("rdApp.*")  # no parse errors on stderr for invalid SMILES
    return Chem, AllChem, DataStructs


def _mol(Chem: ModuleType, smiles: str) -> Any:
    """The sanitized RDKit molecule of `smiles`, or None where it is invalid (MOSES `get_mol`)."""
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return None
    try:
        Chem.SanitizeMol(mol)
    except ValueError:
        return None
    return mol


def _canonical(Chem: ModuleType, smiles: str) -> str | None:
    mol = _mol(Chem, smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def canonical(smiles: str) -> str | None:
    """RDKit's canonical SMILES of `smiles`, None where it is invalid (docs/maths.md §3)."""
    return _canonical(_chem()[0], smiles)


def _valid(smiles: Iterable[str]) -> list[str]:
    """The canonical SMILES of the valid molecules, in order, repeats kept."""
    Chem = _chem()[0]
    return [c for c in (_canonical(Chem, s) for s in smiles) if c is not None]


def canonical_set(smiles: Iterable[str]) -> frozenset[str]:
    """The canonical SMILES of the valid molecules of a reference (training) list, for `novelty`."""
    return frozenset(_valid(smiles))


def validity(smiles: Sequence[str]) -> float:
    """The fraction of valid SMILES (docs/maths.md §3); ValueError on an empty list."""
    if not smiles:
        raise ValueError("no molecules")
    return len(_valid(smiles)) / len(smiles)


def unique_at(smiles: Sequence[str], k: int) -> float:
    """MOSES unique@k (docs/maths.md §3): distinct canonical forms among the first k VALID molecules,
    over how many were taken: min(k, number valid), so fewer than k valid uses them all. nan if none."""
    return unique_fraction(_valid(smiles), k)


def novelty(smiles: Sequence[str], reference: set[str] | frozenset[str]) -> float:
    """MOSES novelty (docs/maths.md §3): the fraction of the distinct valid generated molecules
    (canonical) that are not in `reference`, compared as given (canonicalise it with `canonical_set`).
    nan if none is valid."""
    return novel_fraction(_valid(smiles), reference)


def fingerprints(smiles: Sequence[str]) -> np.ndarray:
    """Morgan fingerprints (radius 2, 1024 bits; docs/maths.md §3), uint8 [N, 1024]; ValueError on an
    invalid SMILES."""
    Chem = _chem()[0]
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    rows = np.zeros((len(smiles), 1024), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = _mol(Chem, s)
        if mol is None:
            raise ValueError(f"invalid SMILES: {s!r}")
        rows[i] = generator.GetFingerprintAsNumPy(mol)
    return rows


def _tanimoto_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[np.ndarray]:
    """Tanimoto similarities of BLOCK rows of `a` at a time against all of `b`; 1 where both are empty
    (0/0), as MOSES does."""
    b32 = np.asarray(b, dtype=np.float32)
    b_bits = b32.sum(1)
    for start in range(0, len(a), BLOCK):
        a32 = np.asarray(a[start : start + BLOCK], dtype=np.float32)
        both = a32 @ b32.T
        either = a32.sum(1)[:, None] + b_bits[None, :] - both
        yield np.divide(both, either, out=np.ones_like(both), where=either > 0)


def tanimoto_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarities |a_i & b_j| / |a_i | b_j| of two 0/1 fingerprint arrays, float32 [N, M]
    (docs/maths.md §3)."""
    blocks = list(_tanimoto_blocks(a, b))
    return np.concatenate(blocks) if blocks else np.zeros((0, len(b)), dtype=np.float32)


def _diversity(fps: np.ndarray, p: float) -> float:
    if len(fps) == 0:
        return math.nan
    powered = [(block**p).mean(1, dtype=np.float64) for block in _tanimoto_blocks(fps, fps)]
    return float(1 - (np.concatenate(powered) ** (1 / p)).mean())


def internal_diversity(smiles: Sequence[str], p: float = 1) -> float:
    """MOSES IntDiv_p (docs/maths.md §3) of the valid molecules (repeats kept), N of them:
    1 - (1/N) sum_i ((1/N) sum_j T_ij^p)^(1/p), over ALL pairs, the diagonal T_ii = 1 included.
    This is what MOSES's code computes (`average_agg_tanimoto(fps, fps, agg='mean', p=p)`: the power
    mean over j per molecule i, then the plain mean over i); the paper writes the power mean over all
    N^2 pairs at once, 1 - ((1/N^2) sum_ij T_ij^p)^(1/p), which agrees for p = 1 only. nan if none."""
    return _diversity(fingerprints(_valid(smiles)), p)


def similarity_to_seeds(generated: Sequence[str], seeds: Sequence[str]) -> float:
    """The mean Tanimoto similarity of each generated molecule to its own seed (docs/maths.md §3),
    over the pairs where both are valid; nan if there is none."""
    if len(generated) != len(seeds):
        raise ValueError(f"{len(generated)} generated molecules but {len(seeds)} seeds")
    Chem = _chem()[0]
    ok = lambda smiles: _mol(Chem, smiles) is not None
    pairs = [(g, s) for g, s in zip(generated, seeds) if ok(g) and ok(s)]
    if not pairs:
        return math.nan
    a, b = (fingerprints(list(column)).astype(bool) for column in zip(*pairs))
    both, either = (a & b).sum(1), (a | b).sum(1)
    return float(np.mean(np.divide(both, either, out=np.ones(len(a)), where=either > 0)))


def neighbourhood_metrics(
    generated: Sequence[str], seeds: Sequence[str], reference: set[str] | frozenset[str]
) -> dict[str, float]:
    """MolMIM's sampling around molecules (docs/maths.md §3): validity of the molecules decoded
    around the `seeds` (one each), uniqueness among the valid, novelty against `reference`, and
    the mean Tanimoto similarity to the seed; the generated molecules are canonicalised once."""
    valid = _valid(generated)
    return {
        "validity": len(valid) / len(generated),
        "unique": unique_fraction(valid),
        "novelty": novel_fraction(valid, reference),
        "similarity": similarity_to_seeds(generated, seeds),
    }


def fcd(generated: Sequence[str], reference: Sequence[str]) -> float | None:
    """The Fréchet ChemNet Distance (docs/maths.md §3) between the canonical valid molecules of the two
    lists, ChemNet (the `fcd` package's bundled weights) on the CPU; None if `fcd` is not installed,
    nan if either side has fewer than 2 valid molecules (no covariance)."""
    gen, ref = _valid(generated), _valid(reference)
    try:
        import fcd as chemnet
    except ImportError:
        return None
    if min(len(gen), len(ref)) < 2:
        return math.nan
    model = chemnet.load_ref_model()
    stats = []
    for valid in (gen, ref):
        act = chemnet.get_predictions(model, valid, n_jobs=0, device="cpu")  # n_jobs=0: no worker process
        stats.append((act.mean(0), np.cov(act.T)))
    return float(chemnet.calculate_frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1]))


def generation_metrics(
    smiles: Sequence[str],
    reference: set[str] | frozenset[str],
    ks: Sequence[int] = (1000, 10000),
    with_fcd_reference: Sequence[str] | None = None,
) -> dict[str, float]:
    """The MOSES metrics of a generated list (docs/maths.md §3): validity, unique@k for each k,
    novelty against the canonical `reference`, int_div (p = 1), int_div2 (p = 2), and fcd against
    `with_fcd_reference` where given and `fcd` is installed."""
    if not smiles:
        raise ValueError("no molecules")
    valid = _valid(smiles)
    fps = fingerprints(valid)
    metrics = {"validity": len(valid) / len(smiles)}
    metrics.update({f"unique@{k}": unique_fraction(valid, k) for k in ks})
    metrics["novelty"] = novel_fraction(valid, reference)
    metrics.update(int_div=_diversity(fps, 1), int_div2=_diversity(fps, 2))
    if with_fcd_reference is not None:
        distance = fcd(valid, with_fcd_reference)
        if distance is not None:
            metrics["fcd"] = distance
    return metrics
