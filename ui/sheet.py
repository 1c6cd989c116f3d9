"""A result to send to someone: one PNG sheet (the images with their captions, the metrics table and
the settings) and the same metrics and settings as JSON, written for each finished comparison."""
from __future__ import annotations

import json
import tempfile
import textwrap
import uuid
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

SHEET_DIR = Path(tempfile.gettempdir()) / "refinestyle-sheets"
TILE = 160  # px: the zoo's images are scaled up (nearest) or down to this
MARGIN, GAP, LINE = 16, 12, 18
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # has σ, ↑ and ↓


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT), size)


def _text_block(lines: list[str], font: ImageFont.FreeTypeFont, width: int) -> Image.Image:
    image = Image.new("RGB", (width, LINE * len(lines) + GAP), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((0, i * LINE), line, fill="black", font=font)
    return image


def _table(headers: list[str], rows: list[list], font: ImageFont.FreeTypeFont, width: int) -> Image.Image:
    """The metrics table, each column as wide as its widest cell."""
    cells = [headers] + [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in rows]
    widths = [max(font.getlength(row[i]) for row in cells) + GAP for i in range(len(headers))]
    image = Image.new("RGB", (width, LINE * len(cells) + GAP), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(cells):
        x = 0.0
        for cell, w in zip(row, widths):
            draw.text((x, r * LINE), cell, fill="black", font=font)
            x += w
    return image


def write_sheet(title: str, groups: list[list[tuple[Image.Image, str]]], headers: list[str], rows: list[list],
                settings: dict, columns: int = 5) -> tuple[str, str]:
    """Write `<id>.png` (title; the captioned images, each group starting a row and wrapping at
    `columns`; the table; the settings) and `<id>.json` (title, settings, one record per table row)
    under SHEET_DIR.  -> (png path, json path)"""
    font = _font(12)
    places, row = [], 0  # (grid row, column) of each image, in order
    for group in groups:
        for k in range(len(group)):
            places.append((row + k // columns, k % columns))
        row += (len(group) + columns - 1) // columns
    shots = [shot for group in groups for shot in group]
    caption_lines = [textwrap.wrap(caption, 22) or [""] for _, caption in shots]
    caption_height = LINE * max(len(c) for c in caption_lines)
    width = 2 * MARGIN + columns * TILE + (columns - 1) * GAP
    grid = Image.new("RGB", (width, row * (TILE + caption_height + GAP)), "white")
    draw = ImageDraw.Draw(grid)
    for (image, _), lines, (r, c) in zip(shots, caption_lines, places):
        x, y = MARGIN + c * (TILE + GAP), r * (TILE + caption_height + GAP)
        grid.paste(image.convert("RGB").resize((TILE, TILE), Image.Resampling.NEAREST), (x, y))
        for i, line in enumerate(lines):
            draw.text((x, y + TILE + 2 + i * LINE), line, fill="black", font=font)
    parts = [_text_block([title], _font(18), width), grid, _table(headers, rows, font, width),
             _text_block([f"{k}: {v}" for k, v in settings.items()], font, width)]
    sheet = Image.new("RGB", (width, sum(p.height for p in parts) + 2 * MARGIN), "white")
    y = MARGIN
    for part in parts:
        sheet.paste(part, (MARGIN if part is not grid else 0, y))
        y += part.height
    SHEET_DIR.mkdir(parents=True, exist_ok=True)
    stem = SHEET_DIR / f"comparison-{uuid.uuid4().hex[:8]}"
    sheet.save(stem.with_suffix(".png"))
    records = [dict(zip(headers, row)) for row in rows]
    stem.with_suffix(".json").write_text(json.dumps({"title": title, "settings": settings, "results": records},
                                                    indent=2, ensure_ascii=False))
    return str(stem.with_suffix(".png")), str(stem.with_suffix(".json"))
