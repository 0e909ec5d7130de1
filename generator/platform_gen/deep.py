"""The one deep-merge rule of the project, shared by the stages that merge.

Mappings merge key by key; lists, scalars and type conflicts replace.
"""

from __future__ import annotations

import copy
from typing import Any

from deepmerge import Merger

__all__ = ["MERGER", "deep_merge"]

MERGER = Merger([(dict, ["merge"])], ["override"], ["override"])


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """A new mapping: ``top`` deep-merged over ``base`` (neither is changed)."""
    result: dict[str, Any] = MERGER.merge(copy.deepcopy(base), copy.deepcopy(top))
    return result
