"""Real datasets with verified downloads: MNIST (IDX files) and Omniglot (official layout), and few-shot episodes.

Root resolution (COURSE_DESIGN.md, "Data"): the ``root`` argument, then ``LEARNOPT_DATA``, then
``~/.cache/learnopt_course``. Downloads go to a temporary file, are checked by md5, and only then are moved into place.
"""

from .episodes import Episode, EpisodeSampler
from .files import DataError, candidate_roots
from .mnist import load_mnist
from .omniglot import OmniglotSplit, load_omniglot

__all__ = [
    "DataError",
    "Episode",
    "EpisodeSampler",
    "OmniglotSplit",
    "candidate_roots",
    "load_mnist",
    "load_omniglot",
]
