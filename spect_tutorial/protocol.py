"""The held-out evaluation protocol, fixed before any model is trained.

Science reference, section 8: held-out phantoms are drawn from seeds disjoint
from every training seed, fixed and committed before any model is trained; at
least 6 phantoms (half with a defect) x 3 realizations per count level; results
as mean and 95 % confidence interval. This module is that commitment: the
seeds below must not change once a model has been evaluated on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .frame import SIMULATION_SHAPE, SIMULATION_VOXEL_SIZE_MM
from .noise import STANDARD_COUNT_LEVELS
from .phantom import Defect, Phantom, random_phantom

__all__ = [
    "EVALUATION_ACQUISITIONS",
    "EVALUATION_COUNT_LEVELS",
    "EVALUATION_PHANTOMS",
    "EVALUATION_REALIZATIONS",
    "TERRITORIES",
    "TERRITORY_PHANTOMS",
    "TERRITORY_SEVERITIES",
    "TUNING_PHANTOMS",
    "EvaluationPhantom",
    "TerritoryPhantom",
    "check_disjoint_from_evaluation",
    "evaluation_phantom",
    "territory_phantom",
]


@dataclass(frozen=True)
class _ProtocolPatient:
    """A patient of a protocol: a :func:`random_phantom` seed and what the protocol fixes."""

    seed: int

    def _phantom_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`random_phantom` beyond the seed and the grid."""
        raise NotImplementedError

    def _phantom_parameters(self) -> dict[str, Any]:
        """Entries this patient adds to the phantom's ``parameters``."""
        return {}

    def build(
        self,
        *,
        shape: tuple[int, int, int] = SIMULATION_SHAPE,
        voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
    ) -> Phantom:
        """Build this patient's phantom.

        Parameters
        ----------
        shape, voxel_size_mm
            Grid, as for :func:`~spect_tutorial.phantom.random_phantom`.

        Returns
        -------
        Phantom
            The random anatomy of the seed with the defect the protocol fixes (for a
            :class:`TerritoryPhantom`, covering the segments of its territory at its
            severity; ``parameters["territory"]`` names it).
        """
        phantom = random_phantom(
            seed=self.seed, shape=shape, voxel_size_mm=voxel_size_mm, **self._phantom_options()
        )
        phantom.parameters.update(self._phantom_parameters())
        return phantom


@dataclass(frozen=True)
class EvaluationPhantom(_ProtocolPatient):
    """One held-out patient: the seed of :func:`random_phantom` and whether it has a defect."""

    defect: bool

    def _phantom_options(self) -> dict[str, Any]:
        return {"defect_probability": 1.0 if self.defect else 0.0}


#: The held-out patients (8: four with a perfusion defect, four without). The seeds
#: lie far below the 32-bit seeds that ``datasets.training_seeds`` derives; a test
#: checks they are disjoint from the training seeds of every training seed 0-99.
EVALUATION_PHANTOMS: tuple[EvaluationPhantom, ...] = (
    EvaluationPhantom(seed=7001, defect=False),
    EvaluationPhantom(seed=7002, defect=True),
    EvaluationPhantom(seed=7003, defect=False),
    EvaluationPhantom(seed=7004, defect=True),
    EvaluationPhantom(seed=7005, defect=False),
    EvaluationPhantom(seed=7006, defect=True),
    EvaluationPhantom(seed=7007, defect=False),
    EvaluationPhantom(seed=7008, defect=True),
)

#: Coronary territories of the defect-safety protocol (science reference, section 9) as
#: AHA 17-segment groups (:mod:`spect_tutorial.segments`; Cerqueira et al. 2002): each
#: group lies inside one artery's usual territory (``segments.CORONARY_TERRITORIES``).
TERRITORIES: dict[str, tuple[int, ...]] = {
    "LAD anterior": (1, 7, 13),  # basal, mid and apical anterior
    "LAD apical": (13, 14, 17),  # apical anterior, apical septal, apex
    "LCx lateral": (5, 6, 11, 12),  # basal and mid inferolateral and anterolateral
    "RCA inferior": (4, 10, 15),  # basal, mid and apical inferior
    "RCA inferoseptal": (3, 9),  # basal and mid inferoseptal
}

#: Uptake lost in the defect (fraction of normal uptake) of the territory patients.
TERRITORY_SEVERITIES: tuple[float, ...] = (0.25, 0.5)


@dataclass(frozen=True)
class TerritoryPhantom(_ProtocolPatient):
    """One defect-safety patient: random anatomy (seed) with a defect in one territory.

    Attributes
    ----------
    seed : int
        Seed of :func:`random_phantom` (anatomy, uptake and noise).
    territory : str
        Key of :data:`TERRITORIES`.
    severity : float
        Fraction of the normal uptake lost in the defect (0.25 or 0.5).
    """

    territory: str
    severity: float

    def _phantom_options(self) -> dict[str, Any]:
        return {"defect": Defect(segments=TERRITORIES[self.territory], severity=self.severity)}

    def _phantom_parameters(self) -> dict[str, Any]:
        return {"territory": self.territory}


#: The defect-safety patients (10: every territory at both severities), each with its own
#: random anatomy. Kept apart from :data:`EVALUATION_PHANTOMS` (whose records stay as they
#: are); disjoint from the held-out and from every training seed (a test checks).
TERRITORY_PHANTOMS: tuple[TerritoryPhantom, ...] = (
    TerritoryPhantom(seed=7101, territory="LAD anterior", severity=0.25),
    TerritoryPhantom(seed=7102, territory="LAD anterior", severity=0.5),
    TerritoryPhantom(seed=7103, territory="LAD apical", severity=0.25),
    TerritoryPhantom(seed=7104, territory="LAD apical", severity=0.5),
    TerritoryPhantom(seed=7105, territory="LCx lateral", severity=0.25),
    TerritoryPhantom(seed=7106, territory="LCx lateral", severity=0.5),
    TerritoryPhantom(seed=7107, territory="RCA inferior", severity=0.25),
    TerritoryPhantom(seed=7108, territory="RCA inferior", severity=0.5),
    TerritoryPhantom(seed=7109, territory="RCA inferoseptal", severity=0.25),
    TerritoryPhantom(seed=7110, territory="RCA inferoseptal", severity=0.5),
)

#: The tuning patients (10): the design of :data:`TERRITORY_PHANTOMS` (every territory at
#: both severities) with anatomies of their own, for choosing a setting, such as a
#: network's strength (:mod:`spect_tutorial.strength`), on patients other than those it is
#: judged on. Disjoint from every other protocol's and every training seed (a test checks).
TUNING_PHANTOMS: tuple[TerritoryPhantom, ...] = tuple(
    TerritoryPhantom(seed=7201 + number, territory=entry.territory, severity=entry.severity)
    for number, entry in enumerate(TERRITORY_PHANTOMS)
)

#: Count levels of the evaluation, in percent.
EVALUATION_COUNT_LEVELS: tuple[float, ...] = STANDARD_COUNT_LEVELS

#: Independent noisy realizations per phantom and count level.
EVALUATION_REALIZATIONS = 3

#: Acquisitions the held-out patients are simulated with (names of
#: :data:`spect_tutorial.study.ACQUISITIONS`): v1 (the study's, no scatter; the
#: default) and v2 (scatter 0.3, corrected with an estimate from the measured
#: counts), the same settings as the training set v2. Same seeds for both.
EVALUATION_ACQUISITIONS: tuple[str, ...] = ("v1", "v2")


def _entry(entries: tuple[Any, ...], index: int, what: str) -> Any:
    """``entries[index]``, or a ValueError naming the valid range of ``what``."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise ValueError(f"index must be an int, got {index!r}")
    if not 0 <= index < len(entries):
        raise ValueError(f"index must be in 0..{len(entries) - 1} (the {what}), got {index}")
    return entries[index]


def evaluation_phantom(
    index: int,
    *,
    shape: tuple[int, int, int] = SIMULATION_SHAPE,
    voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
) -> Phantom:
    """Build held-out patient ``index`` (0-based) of :data:`EVALUATION_PHANTOMS`.

    ``EVALUATION_PHANTOMS[index].build(shape=shape, voxel_size_mm=voxel_size_mm)``
    (:meth:`EvaluationPhantom.build`): with a perfusion defect exactly when the
    protocol says so.
    """
    entry = _entry(EVALUATION_PHANTOMS, index, "held-out phantoms")
    return entry.build(shape=shape, voxel_size_mm=voxel_size_mm)


def territory_phantom(
    index: int,
    *,
    shape: tuple[int, int, int] = SIMULATION_SHAPE,
    voxel_size_mm: float = SIMULATION_VOXEL_SIZE_MM,
) -> Phantom:
    """Build defect-safety patient ``index`` (0-based) of :data:`TERRITORY_PHANTOMS`.

    ``TERRITORY_PHANTOMS[index].build(shape=shape, voxel_size_mm=voxel_size_mm)``
    (:meth:`TerritoryPhantom.build`): a defect covering the segments of the entry's
    territory at its severity; ``parameters["territory"]`` names it.
    """
    entry = _entry(TERRITORY_PHANTOMS, index, "territory phantoms")
    return entry.build(shape=shape, voxel_size_mm=voxel_size_mm)


def check_disjoint_from_evaluation(phantom_seeds: Iterable[int]) -> None:
    """Refuse training phantom seeds that are also held-out evaluation seeds.

    Parameters
    ----------
    phantom_seeds : iterable of int
        Seeds of :func:`random_phantom` used for training.

    Raises
    ------
    ValueError
        Naming the seeds that would leak held-out patients into training.
    """
    held_out = {
        entry.seed for entry in (*EVALUATION_PHANTOMS, *TERRITORY_PHANTOMS, *TUNING_PHANTOMS)
    }
    shared = sorted(held_out.intersection(int(seed) for seed in phantom_seeds))
    if shared:
        raise ValueError(
            f"training phantom seeds {shared} are held-out evaluation seeds "
            "(spect_tutorial.protocol.EVALUATION_PHANTOMS, TERRITORY_PHANTOMS or "
            "TUNING_PHANTOMS); "
            "choose another training seed"
        )
