"""spect_tutorial: rebuild a study of unsupervised deep-learning denoising of
myocardial perfusion SPECT, step by step.

The package supports the chapters of the book: a digital cardiac-torso
phantom, SPECT acquisition and OSEM reconstruction, conventional filters, the
WIN5-RB network trained with Noise2Noise, and the evaluation tools.

Importing the package is fast and never imports TensorFlow: the public names,
listed once in ``__init__.pyi``, are loaded from their modules on first use
(``lazy_loader``, as scikit-image does).

Examples
--------
>>> import spect_tutorial as st
>>> phantom = st.make_phantom(shape=(64, 64, 64), voxel_size_mm=6.4)
>>> phantom.masks["myocardium"].sum() > 0
np.True_
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, _lazy_dir, _names = _lazy.attach_stub(__name__, __file__)

#: Submodules reachable as attributes (``st.plotting.BOOK_STYLE``), not public names.
_SUBMODULES = {"glue", "plotting", "widgets"}
__all__ = sorted({*_names, "__version__"} - _SUBMODULES)

# ``reorient`` is both a submodule and its main function: importing the submodule would
# rebind the package attribute to the module (lazy_loader >= 0.6 guards against that,
# Colab's 0.5 does not), so the function is bound eagerly, after the submodule has loaded.
from .reorient import reorient, reorient_back  # noqa: E402, F401


def __dir__() -> list[str]:
    return sorted({*globals(), *_lazy_dir()})
