#!/usr/bin/env python3
"""PyTorch anchor for the extraction benchmark (version 1): EfficientNet-Lite0 (real weights,
efficientnet-lite-pytorch 0.1.0) on the `resize` view of a folder, Pillow bilinear resize to 224,
(x*255 - 127) / 128 normalisation, batches of 8, torch threads as given. Prints the wall time and,
given our cache (.npy + .json from `carcinoma extract --view resize`), the agreement per row.

  python3 scripts/bench_extract_torch.py IMAGES WEIGHTS.pth THREADS [features/oxml/efficientnet_lite0-resize.npy]
"""
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image


def main():
    images, weights, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = sys.argv[4] if len(sys.argv) > 4 else None
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    from efficientnet_lite_pytorch import EfficientNet
    start = time.time()
    model = EfficientNet.from_name("efficientnet-lite0", image_size=224)
    model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    model.eval()
    names = sorted(n for n in os.listdir(images) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    ids = [os.path.splitext(n)[0] for n in names]
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    rows = []
    for begin in range(0, len(order), 8):
        batch = []
        for i in order[begin:begin + 8]:
            image = Image.open(os.path.join(images, names[i])).convert("RGB").resize((224, 224), Image.BILINEAR)
            batch.append((np.asarray(image, dtype=np.float32) * 1.0 - 127.0) / 128.0)
        x = torch.from_numpy(np.stack(batch).transpose(0, 3, 1, 2).copy())
        features = model.extract_features(x)
        rows.append(torch.nn.functional.adaptive_avg_pool2d(features, 1).flatten(1).numpy())
    rows = np.concatenate(rows)
    seconds = time.time() - start
    print(f"pytorch efficientnet_lite0 resize: {len(rows)} images, {threads} threads, {seconds:.1f} s, {len(rows) / seconds:.2f} img/s")
    if cache:
        ours = np.load(cache)
        manifest = json.load(open(os.path.splitext(cache)[0] + ".json"))
        assert manifest["imageIDs"] == [ids[i] for i in order], "row order differs"
        cosine = (ours * rows).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(rows, axis=1)
        relative = np.linalg.norm(ours - rows) / np.linalg.norm(rows)
        print(f"agreement with {cache}: max |diff| {np.abs(ours - rows).max():.3g}, relative L2 {relative:.3g}, min cosine {cosine.min():.8f}")


if __name__ == "__main__":
    main()
