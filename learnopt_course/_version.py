"""The single source of the package version (read by pyproject.toml and by :func:`learnopt_course.setup`)."""

__version__ = "0.1.0"
