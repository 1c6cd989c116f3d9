"""Keep the README's benchmark tables equal to what the bench scripts print."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def update_readme_block(name: str, text: str, readme: Path = README) -> None:
    """Replace the text between <!-- bench:NAME --> and <!-- /bench:NAME --> with `text`."""
    source = readme.read_text()
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not pattern.search(source):
        raise ValueError(f"README has no <!-- bench:{name} --> block")
    readme.write_text(pattern.sub(lambda m: m[1] + text.rstrip() + "\n" + m[2], source))
