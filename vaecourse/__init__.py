"""vaecourse: the small helper package behind the VAE course notebooks.

One module per idea: ``runtime`` (smoke mode, device, seeding), ``data``,
``models``, ``losses``, ``train``, ``metrics``, ``plots``, ``widgets`` and
``exercises``. Notebooks show the code a lesson teaches and import the
plumbing from here.
"""

__version__ = "0.1.0"
