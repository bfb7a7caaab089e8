"""Interactive widgets for the lessons: ipywidgets core controls driving matplotlib figures.

Each widget is built by a ``make_..._widget`` function that returns the widget (the notebook calls
``display(...)`` on it). The drawing is a plain function of the control values, so it can be tested
without a browser; out-of-range values raise a clear ``ValueError``. Works with ipywidgets 7.7 and 8.

The shared pieces are in :mod:`vaecourse.widgets.core`; each lesson's widgets sit in a file of their
own (``lesson05.py`` holds lesson 05's). Notebooks use them by name: ``widgets.make_kl_widget()``.
"""

from vaecourse.widgets.core import beta_dropdown, live_figure, model_for
from vaecourse.widgets.lesson02 import elbo_gap_numbers, elbo_slider_ranges, make_elbo_gap_widget, plot_elbo_gap
from vaecourse.widgets.lesson03 import KL_AXIS_TOP, KL_MU_RANGE, KL_SIGMA_RANGE, kl_numbers, make_kl_widget, plot_kl
from vaecourse.widgets.lesson04 import (
    GRADIENT_MU_RANGE,
    GRADIENT_SAMPLE_SIZES,
    GRADIENT_SIGMA_RANGE,
    gradient_spread,
    make_gradient_widget,
    plot_gradient_spread,
)
from vaecourse.widgets.lesson05 import (
    check_latent_values,
    make_latent_explorer_widget,
    make_tradeoff_widget,
    plot_latent_explorer,
    plot_tradeoff,
)
from vaecourse.widgets.lesson06 import make_beta_widget, show_beta_model
from vaecourse.widgets.lesson07 import (
    BETA_RANGE,
    SIGMA2_RANGE,
    check_collapse_values,
    collapse_numbers,
    make_collapse_widget,
    plot_collapse_spectrum,
)
from vaecourse.widgets.lesson09 import make_tc_widget, model_key, show_tc_model
from vaecourse.widgets.lesson10 import (
    make_anomaly_widget,
    make_cvae_widget,
    plot_anomaly_threshold,
    plot_cvae_style,
    score_range,
    style_code,
)

__all__ = [
    'beta_dropdown', 'live_figure', 'model_for', 'elbo_gap_numbers', 'elbo_slider_ranges', 'plot_elbo_gap',
    'make_elbo_gap_widget', 'KL_MU_RANGE', 'KL_SIGMA_RANGE', 'KL_AXIS_TOP', 'kl_numbers', 'plot_kl',
    'make_kl_widget', 'GRADIENT_MU_RANGE', 'GRADIENT_SIGMA_RANGE', 'GRADIENT_SAMPLE_SIZES', 'gradient_spread',
    'plot_gradient_spread', 'make_gradient_widget', 'check_latent_values', 'plot_latent_explorer',
    'make_latent_explorer_widget', 'plot_tradeoff', 'make_tradeoff_widget', 'show_beta_model',
    'make_beta_widget', 'SIGMA2_RANGE', 'BETA_RANGE', 'check_collapse_values', 'collapse_numbers',
    'plot_collapse_spectrum', 'make_collapse_widget', 'model_key', 'show_tc_model', 'make_tc_widget',
    'score_range', 'plot_anomaly_threshold', 'make_anomaly_widget', 'plot_cvae_style', 'make_cvae_widget',
    'style_code',
]
