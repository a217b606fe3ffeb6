#!/usr/bin/env python3
"""Writes the demo data set kather-quarters from kather-mini (version 1; Pillow, no randomness).

Every 150 x 150 tile of ../kather-mini/images is cut into its four overlapping 100 x 100 corners
(offsets 0 and 50 on each axis): tumor_1.png -> tumor_1_a.png (top left), _b (top right),
_c (bottom left), _d (bottom right). labels.csv keeps the class name and the tile each quarter
came from (`tile`), so the demo's cross-validation keeps the four quarters of a tile in one fold
(`--group-column tile`): a quarter is never scored by a model that saw another part of its tile.
PNG pixels are copied unchanged (crop only; no resampling, no colour change).

Run from this folder: python3 make_quarters.py
"""
import csv
import os

from PIL import Image

VERSION = 1
SOURCE = os.path.join("..", "kather-mini")
SIZE, OFFSETS = 100, [(0, 0), (50, 0), (0, 50), (50, 50)]  # (left, top) of quarters a, b, c, d


def main():
    os.makedirs("images", exist_ok=True)
    with open(os.path.join(SOURCE, "labels.csv"), newline="") as f:
        tiles = list(csv.DictReader(f))
    rows = []
    for tile in tiles:
        stem = os.path.splitext(tile["image"])[0]
        image = Image.open(os.path.join(SOURCE, "images", tile["image"])).convert("RGB")
        assert image.size == (150, 150), f"{tile['image']}: {image.size}"
        for letter, (left, top) in zip("abcd", OFFSETS):
            name = f"{stem}_{letter}.png"
            image.crop((left, top, left + SIZE, top + SIZE)).save(os.path.join("images", name), optimize=True)
            rows.append((name, tile["label"], stem, tile["source_tile"]))
    with open("labels.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "label", "tile", "source_tile"])
        writer.writerows(sorted(rows))
    print(f"make_quarters.py v{VERSION}: {len(rows)} quarters of {len(tiles)} tiles")


if __name__ == "__main__":
    main()
