"""Scoring reconstructions under the published protocols: geometry in (`geometry`), the protocols'
normalisation, sampling, Chamfer distance and IoU (`protocols`), prediction and truth files of
every kind read in isolation (`files`), and whole folders scored with best-of-N (`folder`)."""

from cadlib.scoring.geometry import Geometry
from cadlib.scoring.protocols import PROTOCOLS, Protocol, get_protocol, score_pair, summarize

__all__ = ["Geometry", "PROTOCOLS", "Protocol", "get_protocol", "score_pair", "summarize"]
