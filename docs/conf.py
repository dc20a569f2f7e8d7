"""Sphinx configuration of the course website (built by ``learnopt site``; see README, "The website").

The pages are the solution notebooks with the outputs of CI's run (MyST-NB renders them without executing anything);
each lesson page links its student notebook for download. Only packages that work offline: Sphinx's built-in theme.
"""

project = "learnopt-course"
author = "the learnopt-course authors"
copyright = "the learnopt-course authors (MIT licence)"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # the notebooks arrive executed (learnopt site)
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "students/*", "**.ipynb_checkpoints"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "240px", "show_relbars": True}
html_title = "learnopt-course: learned optimization in PyTorch"
html_show_sourcelink = False
