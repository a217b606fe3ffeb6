"""PyTorch (and ONNX Runtime) side of `make bench`: times a torchvision backbone exactly as
`carcinoma bench backbone` times ours (bench script version 2).

Same synthetic weights (scripts/fixtures/synthetic_weights.py, spec v1), same input
(element i of the N x 3 x S x S tensor is (i mod 255) / 255 - 0.5), eval mode,
no_grad, classifier replaced by Identity, torch.set_num_threads(threads)
(efficientnet_lite0 from the PyPI package efficientnet-lite-pytorch, not torchvision); one warm-up
call, then the median of at least 5 calls spanning at least 3 s (and the median processor time of a call,
all threads, per image: the work, whatever else the machine runs; ONNX Runtime's spinning threads count in it). GFLOP per image is
counted with torch.utils.flop_counter.FlopCounterMode (convolutions and matmuls,
2 x multiply-adds).

--runtime onnxruntime exports the same model (opset 17, TorchScript exporter) and times it in
ONNX Runtime with intra_op_num_threads = threads and every graph optimisation, as ANCHORS.md did.
--single-pass builds the model and runs one pass only (for peak-memory measurements with /usr/bin/time).

    python3 scripts/bench_backbones.py --name resnet50 --size 224 --batch 1 --threads 2 [--runtime onnxruntime] [--json]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
from synthetic_weights import fill_state_dict  # noqa: E402

BENCH_VERSION = 2


def build(name, size=224):
    models = torchvision.models
    if name == "efficientnet_lite0":
        # the PyPI reference package (not torchvision); static SAME padding computed for this size
        from efficientnet_lite_pytorch import EfficientNet
        model = EfficientNet.from_name("efficientnet-lite0", image_size=size)
        fill_state_dict(model)
        model._fc = torch.nn.Identity()
        return model.eval()
    if name == "googlenet":
        model = models.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    elif name == "inception_v3":
        model = models.inception_v3(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    else:
        model = getattr(models, name)(weights=None)
    fill_state_dict(model)
    if hasattr(model, "fc"):
        model.fc = torch.nn.Identity()
    else:
        model.classifier = torch.nn.Identity()
    return model.eval()


def onnx_runner(model, x, threads):
    """An ONNX Runtime session for `model` at x's shape; returns a callable running it on x."""
    import shutil
    import tempfile
    import warnings
    import onnxruntime
    folder = tempfile.mkdtemp(prefix="carcinoma-bench-")
    path = os.path.join(folder, "model.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, opset_version=17, input_names=["input"], output_names=["embedding"],
                          dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    shutil.rmtree(folder)
    feed = {"input": x.numpy()}
    return lambda: session.run(None, feed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--single-pass", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = build(args.name, args.size)
    count = args.batch * 3 * args.size * args.size
    x = ((torch.arange(count, dtype=torch.int64) % 255).float() / 255 - 0.5).reshape(args.batch, 3, args.size, args.size)
    with torch.no_grad():
        if args.single_pass:
            model(x)
            print(f"{args.runtime} {args.name} {args.size}x{args.size} batch {args.batch}: one pass done")
            return
        with FlopCounterMode(display=False) as counter:
            model(x[:1])
        flops_per_image = counter.get_total_flops()
        run = onnx_runner(model, x, args.threads) if args.runtime == "onnxruntime" else (lambda: model(x))
        run()  # warm-up
        times, cpu_times = [], []
        while len(times) < 5 or sum(times) < 3.0:
            start, cpu_start = time.perf_counter(), time.process_time()
            run()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    median = statistics.median(times)
    result = {
        "bench_version": BENCH_VERSION, "runtime": args.runtime, "torch": torch.__version__, "name": args.name, "size": args.size,
        "batch": args.batch, "threads": args.threads, "runs": len(times), "median_seconds": median,
        "images_per_second": args.batch / median, "gflop_per_image": flops_per_image / 1e9,
        "cpu_seconds_per_image": statistics.median(cpu_times) / args.batch,
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{args.runtime} {args.name} {args.size}x{args.size} batch {args.batch}, {args.threads} threads: "
              f"{result['images_per_second']:.2f} images/s ({result['gflop_per_image']:.2f} GFLOP/image)")


if __name__ == "__main__":
    main()
