"""Example images for the tabs (assets/examples/, attribution in ATTRIBUTION.md): emoji64 only."""
from __future__ import annotations

from pipelines.zoo import ASSETS

EXAMPLES = ASSETS / "examples"


def example_images(prefix: str, zoo_name: str) -> list[str]:
    """Files starting with `prefix` ("google_", "twitter_"), for the emoji64 zoo; none for other zoos."""
    if zoo_name != "emoji64":
        return []
    return sorted(str(p) for p in EXAMPLES.glob(f"{prefix}*.png"))
