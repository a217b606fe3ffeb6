#!/usr/bin/env python3
"""PyTorch eager reference of `carcinoma extract` (bench script version 2): the same images, views,
batches and threads, timed, and its rows checked against our cache.

The pipeline, transcribed from Sources/Extraction and Sources/Imaging (keep in step with them):
  list      PNG/JPEG files directly in the folder (extension case-insensitive, hidden files skipped),
            sorted by id = file name without extension (the row order of every cache)
  decode    Pillow; any alpha (or tRNS transparency) composited on white by `paste` with the mask,
            otherwise convert("RGB") (the twin of scripts/fixtures/imaging_fixtures.py pillow_rgb)
  views     resize  Image.resize((S, S), BILINEAR) (Pillow's antialiased bilinear, what ours transcribes)
            pad     pasted centred on a white max(w, h) square (left/top = extra // 2), then resized
            native  the whole image at its own size
            tiles   an axis shorter than S padded centred with white to S; S x S crops at origins
                    0, stride, 2 stride, ... plus one flush with the far edge; with --min-tissue > 0
                    only tiles whose tissue fraction reaches it (all tiles when none does)
            S is the backbone's input size, stride defaults to S // 2
  TTA d4    the 8 numpy symmetries (identity, rot90 k=1..3, flip left-right, flip top-bottom,
            transpose, transverse), embeddings averaged per view image
  input     (byte / 255 - mean) / std in float32, the backbone's mean/std (ImageNet, or 127/255 and
            128/255 for EfficientNet-Lite0); GoogLeNet and Inception-V3 re-normalise internally
            (torchvision transform_input=True)
  batches   windows of --batch images in id order; inside a window the network inputs are grouped by
            size (first-seen order) and run in batches of at most --batch equal-size inputs
  pooling   TTA mean per view image, then mean (or mean and max concatenated) over the view images
Networks: torchvision resnet50, googlenet, inception_v3 (aux_logits off), efficientnet_v2_s with the
classifier replaced by Identity; EfficientNet-Lite0 from the PyPI package efficientnet-lite-pytorch
0.1.0 built with image_size=None (TF "SAME" padding computed per input size, as ours), features =
extract_features + global mean. eval(), torch.inference_mode(), torch.set_num_threads(--threads).

The timed span starts once the network is built and its weights loaded (that time is reported
apart: torchvision's constructors spend it on a random init the weights then replace) and ends after
the last row: decode, views, normalisation, network, pooling; the network's share is reported too. With --check OURS.npy the rows are
compared with our cache (the .json manifest beside it must describe the same settings) and the
script exits with status 2 when the overall or any row's relative L2 difference exceeds --tolerance.

  # reference run (+ agreement with our cache)
  python3 scripts/bench_extract_torch.py run --images DIR --backbone efficientnet_lite0 \\
      --weights ../shared/weights/efficientnet-lite0-57934424.pth --view tiles --threads 2 \\
      --check OUT/efficientnet_lite0-tiles.npy [--json]
  # synthetic torchvision weights (scripts/fixtures/synthetic_weights.py, spec v1) as safetensors
  python3 scripts/bench_extract_torch.py weights --backbone resnet50 --out /tmp/w/resnet50.safetensors
  # the first N images (sorted by file name) of a folder, copied into DEST (never written in place)
  python3 scripts/bench_extract_torch.py subset SOURCE N DEST
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
from PIL import Image

BENCH_VERSION = 2
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))

DECODABLE = (".png", ".jpg", ".jpeg")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# The preprocessing table of Sources/Backbones/Registry.swift and WeightSets.swift (`carcinoma backbones`); the manifest
# of our cache is checked against it.
BACKBONES = {
    "resnet50": dict(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, transform_input=False, width=2048),
    "googlenet": dict(input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, transform_input=True, width=1024),
    "inception_v3": dict(input_size=299, mean=IMAGENET_MEAN, std=IMAGENET_STD, transform_input=True, width=2048),
    "efficientnet_v2_s": dict(input_size=384, mean=IMAGENET_MEAN, std=IMAGENET_STD, transform_input=False, width=1280),
    # Swift computes 127 / 255 and 128 / 255 in Float.
    "efficientnet_lite0": dict(input_size=224, mean=[float(np.float32(127) / np.float32(255))] * 3,
                               std=[float(np.float32(128) / np.float32(255))] * 3, transform_input=False, width=1280),
}


class Disagreement(Exception):
    pass


# --- images --------------------------------------------------------------------------------------

def list_images(folder):
    """(id, path) of every decodable image directly in `folder`, sorted by id (ListImages.swift)."""
    entries = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or not name.lower().endswith(DECODABLE):
            continue
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            entries.append((os.path.splitext(name)[0], path))
    ids = [i for i, _ in entries]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"duplicate image ids in {folder}")
    entries.sort(key=lambda entry: entry[0])
    return entries


def subset(source, count, destination):
    """Copies the first `count` images (sorted by file name) of `source` into `destination`."""
    if os.path.realpath(destination) == os.path.realpath(source):
        raise SystemExit("subset: destination must differ from the source")
    names = sorted(n for n in os.listdir(source)
                   if not n.startswith(".") and n.lower().endswith(DECODABLE) and os.path.isfile(os.path.join(source, n)))
    if count > 0:
        names = names[:count]
    os.makedirs(destination, exist_ok=True)
    for name in names:
        shutil.copyfile(os.path.join(source, name), os.path.join(destination, name))
    return names


def decode(path):
    """Pillow RGB, alpha composited on white (Decode.swift; imaging_fixtures.py pillow_rgb)."""
    with Image.open(path) as image:
        if image.mode in ("RGBA", "LA", "PA") or (image.mode in ("P", "L", "I;16", "RGB") and "transparency" in image.info):
            rgba = image.convert("RGBA")
            white = Image.new("RGB", image.size, (255, 255, 255))
            white.paste(rgba, mask=rgba)
            return white
        return image.convert("RGB")


# --- views (Views.swift, Tiles.swift, Geometry.swift) -------------------------------------------

def pad_white(image, width, height):
    """Centred on white, at least width x height (an axis already as large is left alone)."""
    width, height = max(width, image.width), max(height, image.height)
    if (width, height) == image.size:
        return image
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def tile_origins(length, size, stride):
    if length <= size:
        return [0]
    origins = list(range(0, length - size + 1, stride))
    if origins[-1] != length - size:
        origins.append(length - size)
    return origins


def tissue_fraction(rgb, saturation=0.10, brightness=0.80):
    """Imaging.tissueFraction: background = HSV value > brightness and saturation < saturation."""
    rgb = rgb.astype(np.int64)
    high, low = rgb.max(-1), rgb.min(-1)
    value = high / 255.0
    chroma = np.where(high > 0, (high - low) / np.maximum(high, 1).astype(np.float64), 0.0)
    background = (value > brightness) & (chroma < saturation)
    return 1.0 - background.sum() / background.size if background.size else 0.0


def view_images(image, view, size, stride, min_tissue):
    """The uint8 H x W x 3 arrays the backbone sees for one decoded image (before TTA)."""
    if view == "resize":
        return [np.asarray(image.resize((size, size), Image.BILINEAR))]
    if view == "pad":
        side = max(image.size)
        return [np.asarray(pad_white(image, side, side).resize((size, size), Image.BILINEAR))]
    if view == "native":
        return [np.asarray(image)]
    if view == "tiles":
        padded = np.asarray(pad_white(image, size, size))
        height, width = padded.shape[:2]
        tiles = [padded[y:y + size, x:x + size] for y in tile_origins(height, size, stride)
                 for x in tile_origins(width, size, stride)]
        if min_tissue > 0:
            kept = [tile for tile in tiles if tissue_fraction(tile) >= min_tissue]
            return kept if kept else tiles
        return tiles
    raise SystemExit(f"unknown view {view}")


def d4(array):
    """The 8 symmetries in DihedralTransform.allCases order (numpy conventions, H x W x 3)."""
    return [array, np.rot90(array, 1), np.rot90(array, 2), np.rot90(array, 3), np.flip(array, 1),
            np.flip(array, 0), array.swapaxes(0, 1), array[::-1, ::-1].swapaxes(0, 1)]


# --- networks ------------------------------------------------------------------------------------

def torchvision_model(name):
    import torchvision
    models = torchvision.models
    if name == "googlenet":
        model = models.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    elif name == "inception_v3":
        model = models.inception_v3(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    else:
        model = getattr(models, name)(weights=None)
    return model


def write_synthetic_weights(name, out):
    """torchvision `name` with every tensor from synthetic weights spec v1, as safetensors (the
    state_dict names our loader reads; num_batches_tracked dropped, it is unused)."""
    from safetensors.torch import save_file
    from synthetic_weights import fill_state_dict
    if name not in BACKBONES or name == "efficientnet_lite0":
        raise SystemExit(f"weights: synthetic safetensors are for the torchvision backbones, not {name}")
    model = fill_state_dict(torchvision_model(name))
    tensors = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_file(tensors, out, metadata={"format": "pt", "synthetic_weights_spec": "1", "backbone": name})


def load_network(name, weights):
    """An embed(x) function, x N x 3 x H x W normalised → N x width."""
    if name == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet
        model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        state = torch.load(weights, map_location="cpu")
        model.load_state_dict(state, strict=True)
        model.eval()

        def embed(x):
            return torch.nn.functional.adaptive_avg_pool2d(model.extract_features(x), 1).flatten(1)
        return embed
    model = torchvision_model(name)
    if weights.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = load_file(weights)
    else:
        state = torch.load(weights, map_location="cpu")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{weights}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if hasattr(model, "fc"):
        model.fc = torch.nn.Identity()
    else:
        model.classifier = torch.nn.Identity()
    model.eval()
    return model


# --- the run (Extractor.swift, Embedder.swift) ---------------------------------------------------

def extract(entries, name, weights, view, tta, batch, stride, pool, min_tissue):
    spec = BACKBONES[name]
    size = spec["input_size"]
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(3, 1, 1)
    width = spec["width"]
    loading = time.perf_counter()
    embed = load_network(name, weights)
    started = time.perf_counter()
    load_seconds = started - loading
    network_seconds = 0.0
    inputs_count = 0
    rows = []
    for window_start in range(0, len(entries), batch):
        window = entries[window_start:window_start + batch]
        views = [view_images(decode(path), view, size, stride, min_tissue) for _, path in window]
        transforms = 8 if tta == "d4" else 1
        sums = [np.zeros((len(v), width), dtype=np.float64) for v in views]
        # Group by input size in first-seen order (slot, view index, transform index).
        groups = {}
        for slot, images in enumerate(views):
            for view_index, array in enumerate(images):
                for transformed in (d4(array) if tta == "d4" else [array]):
                    groups.setdefault(transformed.shape[:2], []).append((slot, view_index, transformed))
        for group in groups.values():
            for begin in range(0, len(group), batch):
                chunk = group[begin:begin + batch]
                x = torch.from_numpy(np.stack([np.ascontiguousarray(a) for _, _, a in chunk])).permute(0, 3, 1, 2)
                x = (x.float() / 255 - mean) / std
                tick = time.perf_counter()
                output = embed(x.contiguous()).numpy()
                network_seconds += time.perf_counter() - tick
                inputs_count += len(chunk)
                if output.shape != (len(chunk), width):
                    raise SystemExit(f"{name} returned {output.shape}, expected {(len(chunk), width)}")
                for (slot, view_index, _), row in zip(chunk, output):
                    sums[slot][view_index] += row
        for view_sums in sums:
            per_view = view_sums / transforms
            row = per_view.mean(0)
            if view == "tiles" and pool == "mean+max":
                row = np.concatenate([row, per_view.max(0)])
            rows.append(row.astype(np.float32))
    seconds = time.perf_counter() - started
    return np.stack(rows), seconds, load_seconds, network_seconds, inputs_count


def view_parameters(view, size, stride, pool, min_tissue):
    if view in ("resize", "pad"):
        return {"size": str(size)}
    if view == "tiles":
        return {"size": str(size), "stride": str(stride), "pool": pool}
    return {}


def check(cache, ids, rows, name, view, tta, stride, pool, min_tissue, tolerance):
    """Agreement of `rows` with our cache; raises Disagreement when the settings or rows differ."""
    ours = np.load(cache)
    manifest = json.load(open(os.path.splitext(cache)[0] + ".json"))
    spec = BACKBONES[name]
    problems = []
    if manifest.get("imageIDs") != ids:
        problems.append("image ids / row order differ")
    if manifest.get("backbone") != name or manifest.get("view") != view or manifest.get("tta") != tta:
        problems.append(f"manifest is {manifest.get('backbone')}/{manifest.get('view')}/{manifest.get('tta')}")
    pre = manifest.get("preprocessing", {})
    if (pre.get("inputSize") != spec["input_size"] or bool(pre.get("transformInput")) != spec["transform_input"]
            or not np.allclose(pre.get("mean", []), spec["mean"], rtol=0, atol=1e-7)
            or not np.allclose(pre.get("std", []), spec["std"], rtol=0, atol=1e-7)):
        problems.append(f"preprocessing differs: ours {pre}, reference {spec}")
    parameters = manifest.get("viewParameters", {})
    for key, value in view_parameters(view, spec["input_size"], stride, pool, min_tissue).items():
        if parameters.get(key) != value:
            problems.append(f"view parameter {key}: ours {parameters.get(key)}, reference {value}")
    if view == "tiles" and float(parameters.get("minTissue", "nan")) != min_tissue:
        problems.append(f"view parameter minTissue: ours {parameters.get('minTissue')}, reference {min_tissue}")
    if ours.shape != rows.shape:
        raise Disagreement(f"shape: ours {ours.shape}, reference {rows.shape}; " + "; ".join(problems))
    ours64, rows64 = ours.astype(np.float64), rows.astype(np.float64)
    difference = ours64 - rows64
    row_norms = np.linalg.norm(rows64, axis=1)
    row_relative = np.linalg.norm(difference, axis=1) / np.maximum(row_norms, 1e-30)
    cosine = (ours64 * rows64).sum(1) / np.maximum(np.linalg.norm(ours64, axis=1) * row_norms, 1e-30)
    agreement = {
        "rows": int(rows.shape[0]),
        "max_abs_diff": float(np.abs(difference).max()),
        "relative_l2": float(np.linalg.norm(difference) / max(np.linalg.norm(rows64), 1e-30)),
        "worst_row_relative_l2": float(row_relative.max()),
        "worst_row_id": ids[int(row_relative.argmax())],
        "min_cosine": float(cosine.min()),
        "finite": bool(np.isfinite(ours).all() and np.isfinite(rows).all()),
        "tolerance": tolerance,
    }
    if not agreement["finite"]:
        problems.append("non-finite values")
    if not agreement["worst_row_relative_l2"] <= tolerance:
        problems.append(f"row {agreement['worst_row_id']} relative L2 {agreement['worst_row_relative_l2']:.3g} > {tolerance:g}")
    agreement["ok"] = not problems
    agreement["problems"] = problems
    return agreement


def run(args):
    torch.set_num_threads(args.threads)
    spec = BACKBONES[args.backbone]
    stride = args.tile_stride or max(1, spec["input_size"] // 2)
    entries = list_images(args.images)
    if not entries:
        raise SystemExit(f"no PNG/JPEG images in {args.images}")
    weights = args.weights
    if weights is None:
        raise SystemExit("--weights is required (the .pth/.safetensors our side reads)")
    with torch.inference_mode():
        rows, seconds, load_seconds, network_seconds, inputs_count = extract(
            entries, args.backbone, weights, args.view, args.tta, args.batch, stride, args.tile_pool, args.min_tissue)
    ids = [i for i, _ in entries]
    result = {
        "bench_version": BENCH_VERSION, "torch": torch.__version__, "backbone": args.backbone, "view": args.view,
        "tta": args.tta, "images": len(ids), "network_inputs": inputs_count, "threads": args.threads,
        "batch": args.batch, "seconds": seconds, "load_seconds": load_seconds, "network_seconds": network_seconds,
        "images_per_second": len(ids) / seconds,
    }
    if args.view == "tiles":
        result.update(tile_stride=stride, tile_pool=args.tile_pool, min_tissue=args.min_tissue)
    failure = None
    if args.check:
        try:
            result["agreement"] = check(args.check, ids, rows, args.backbone, args.view, args.tta, stride,
                                        args.tile_pool, args.min_tissue, args.tolerance)
            if not result["agreement"]["ok"]:
                failure = "; ".join(result["agreement"]["problems"])
        except Disagreement as error:
            failure = str(error)
            result["agreement"] = {"ok": False, "problems": [failure]}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"pytorch {args.backbone} {args.view}{'+' + args.tta if args.tta else ''}: {len(ids)} images "
              f"({inputs_count} network inputs), {args.threads} threads, {seconds:.1f} s "
              f"(network {network_seconds:.1f} s; model built and loaded before, {load_seconds:.1f} s), "
              f"{len(ids) / seconds:.2f} img/s")
        if "agreement" in result and "rows" in result["agreement"]:
            a = result["agreement"]
            print(f"agreement with {args.check}: max |diff| {a['max_abs_diff']:.3g}, relative L2 {a['relative_l2']:.3g} "
                  f"(worst row {a['worst_row_relative_l2']:.3g}, {a['worst_row_id']}), min cosine {a['min_cosine']:.8f}")
    if failure:
        print(f"DISAGREEMENT between PyTorch and {args.check}: {failure}", file=sys.stderr)
        sys.exit(2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("run", help="the reference extraction, timed (and checked with --check)")
    r.add_argument("--images", required=True)
    r.add_argument("--backbone", required=True, choices=sorted(BACKBONES))
    r.add_argument("--weights")
    r.add_argument("--view", required=True, choices=["resize", "pad", "native", "tiles"])
    r.add_argument("--tta", choices=["d4"])
    r.add_argument("--tile-stride", type=int)
    r.add_argument("--tile-pool", default="mean", choices=["mean", "mean+max"])
    r.add_argument("--min-tissue", type=float, default=0.0)
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--check", help="our cache (.npy, with its .json manifest beside it)")
    r.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted relative L2 difference of a row")
    r.add_argument("--json", action="store_true")
    w = commands.add_parser("weights", help="synthetic torchvision weights (spec v1) as safetensors")
    w.add_argument("--backbone", required=True)
    w.add_argument("--out", required=True)
    s = commands.add_parser("subset", help="copy the first N images (sorted by name) of SOURCE into DEST")
    s.add_argument("source")
    s.add_argument("count", type=int, help="0 copies every image")
    s.add_argument("destination")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "weights":
        write_synthetic_weights(args.backbone, args.out)
    else:
        names = subset(args.source, args.count, args.destination)
        print(len(names))


if __name__ == "__main__":
    main()
