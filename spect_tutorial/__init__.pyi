# The public names of spect_tutorial, listed once. lazy_loader reads the imports below at
# import time (spect_tutorial/__init__.py) and loads each name from its module on first
# use; type checkers and IDEs read this file as the package's stub (``name as name`` marks
# a re-export). Adding a public name: one line here and a bad-input case in
# tests/test_bad_inputs.py. The light submodules of the first import are reachable as
# attributes (``st.plotting``) but are not public names.
from . import glue as glue, plotting as plotting, widgets as widgets
from .acquisition import (
    SpectGeometry as SpectGeometry,
    SpectSystem as SpectSystem,
    scatter_projections as scatter_projections,
)
from .benchmark import run_benchmark as run_benchmark
from .data import load_shipped_phantom as load_shipped_phantom
from .datasets import (
    build_training_set as build_training_set,
    synthetic_training_set as synthetic_training_set,
)
from .filters import (
    butterworth_filter as butterworth_filter,
    gaussian_filter_mm as gaussian_filter_mm,
    optimal_fwhm as optimal_fwhm,
)
from .frame import LVGeometry as LVGeometry
from .inference import denoise as denoise
from .formats import (
    load_interfile as load_interfile,
    load_xcat_raw as load_xcat_raw,
    phantom_from_arrays as phantom_from_arrays,
)
from .metrics import (
    coefficient_of_variation as coefficient_of_variation,
    defect_ratio as defect_ratio,
    evaluation_region as evaluation_region,
    normal_myocardium as normal_myocardium,
    nrmse as nrmse,
    profile as profile,
    psnr as psnr,
    ssim as ssim,
    wall_thickness as wall_thickness,
)
from .model import win5rb as win5rb
from .noise import (
    add_image_noise as add_image_noise,
    counts_scale as counts_scale,
    expected_counts as expected_counts,
    poisson_realizations as poisson_realizations,
    realization_seed as realization_seed,
    split_counts as split_counts,
)
from .phantom_file import load_phantom as load_phantom, save_phantom as save_phantom
from .phantom import (
    Anatomy as Anatomy,
    Defect as Defect,
    Phantom as Phantom,
    Uptake as Uptake,
    make_phantom as make_phantom,
    random_phantom as random_phantom,
)
from .polar import (
    PolarMap as PolarMap,
    aha17 as aha17,
    polar_map as polar_map,
    show_polar_map as show_polar_map,
)
from .recon import mlem as mlem, osem as osem
from .reorient import reorient as reorient, reorient_back as reorient_back
from .study import Study as Study, simulate_study as simulate_study
from .training import (
    TrainingConfig as TrainingConfig,
    train_count_split as train_count_split,
    train_noise2noise as train_noise2noise,
    train_supervised as train_supervised,
)
from .weights import load_pretrained as load_pretrained, save_weights as save_weights

__version__: str
