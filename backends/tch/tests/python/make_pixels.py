"""Reference pixels from transformers' two Qwen2-VL image processors and their resamplers.

Usage: python make_pixels.py OUT_DIR

Writes (everything deterministic):
  OUT_DIR/resize/img{i}.png + resize.safetensors: for each (w, h) -> (ow, oh) pair, the
      source image and its bicubic resize by torchvision (`tv_{i}`: what the default
      `Qwen2VLImageProcessor` calls) and by Pillow (`pil_{i}`), HxWx3 uint8
  OUT_DIR/proc/img{j}.png: images of many sizes (inside, below and above the pixel bounds,
      exact grids, extreme aspect ratios)
  OUT_DIR/proc/{backend}-{bounds}/preprocessor_config.json (as transformers saves it, plus
      `image_backend`) and pixels.safetensors (`pixel_values_{j}`, `grid_thw_{j}`)
  OUT_DIR/sizes/{case}/preprocessor_config.json + OUT_DIR/sizes.json: how transformers 5
      resolves size / min_pixels / max_pixels keys (the bounds, or that it fails)
  OUT_DIR/manifest.json: the pairs, sizes and versions
"""

import json
import os
import sys

import numpy as np
import PIL
import torch

try:
    import torchvision  # transformers 5's default Qwen2-VL image processor needs it
except ImportError:
    sys.exit("torchvision is missing from this venv: run `bash scripts/bootstrap.sh` (it installs torchvision "
             "0.26.0 next to torch 2.11.0); without it transformers silently falls back to the Pillow processor")
import transformers  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torchvision.transforms.v2 import functional as tvF  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from transformers import AutoImageProcessor, Qwen2VLImageProcessor, Qwen2VLImageProcessorPil  # noqa: E402

# (w, h) -> (ow, oh): both shrink (height more: Pillow's vertical-first case; width more),
# both grow, one grows and one shrinks, one side only, Pillow's rule at and around its
# boundary (h - oh vs 2 (w - ow)), odd and tiny sizes, extreme aspect ratios, big reductions.
RESIZE_PAIRS = [
    ((397, 263), (392, 252)), ((263, 397), (252, 392)), ((640, 480), (644, 476)),
    ((800, 600), (812, 588)), ((100, 61), (112, 56)), ((61, 100), (56, 112)),
    ((37, 90), (56, 112)), ((300, 200), (900, 600)), ((81, 83), (84, 84)),
    ((57, 140), (56, 140)), ((140, 57), (140, 56)), ((448, 448), (224, 224)),
    ((333, 777), (112, 252)), ((1024, 768), (392, 280)), ((1500, 1000), (420, 280)),
    ((1000, 7), (560, 28)), ((5, 900), (28, 1008)), ((199, 1), (28, 28)), ((1, 1), (56, 56)),
    ((2, 3), (28, 56)), ((60, 60), (59, 58)), ((60, 60), (59, 57)), ((30, 200), (25, 190)),
    ((30, 200), (25, 189)), ((113, 117), (79, 28)), ((17, 99), (6, 39)), ((74, 17), (69, 10)),
    ((50, 175), (73, 190)), ((156, 150), (286, 110)), ((1200, 20), (1176, 28)),
]
# (w, h) of the processor images; bounds below.
PROC_SIZES = [
    (448, 448), (100, 61), (37, 90), (57, 140), (112, 84), (168, 56), (397, 263), (263, 397),
    (640, 480), (1200, 20), (20, 1200), (28, 28), (13, 17), (500, 499), (224, 140), (301, 211),
    (56, 56), (250, 100), (90, 360), (123, 456), (999, 12), (84, 252),
]
BOUNDS = {"small": (28 * 28 * 4, 28 * 28 * 20), "large": (28 * 28 * 30, 28 * 28 * 60)}
SIZE_CASES = {
    "default": {},
    "size": {"size": {"shortest_edge": 5000, "longest_edge": 20000}},
    "top": {"min_pixels": 5000, "max_pixels": 20000},
    "both": {"min_pixels": 6000, "max_pixels": 30000, "size": {"shortest_edge": 5000, "longest_edge": 20000}},
    "top_min_only": {"min_pixels": 5000},
    "size_long_top_min": {"min_pixels": 5000, "size": {"longest_edge": 20000}},
    "nulls": {"min_pixels": None, "max_pixels": None, "size": {"shortest_edge": 5000, "longest_edge": 20000}},
    "size_min_max_keys": {"size": {"min_pixels": 5000, "max_pixels": 20000}},
    "size_short_only": {"size": {"shortest_edge": 5000}},
    "size_hw": {"size": {"height": 100, "width": 100}},
}


def image(rng, w, h):
    """Smooth gradients with 30% noise pixels: both ringing and plain interpolation matter."""
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), ((xx + yy) * 7) % 256], -1)
    noise = rng.integers(0, 256, size=(h, w, 3))
    return np.where(rng.random((h, w, 1)) < 0.3, noise, smooth).astype(np.uint8)


def tv_resize(a, ow, oh):
    t = torch.from_numpy(a).permute(2, 0, 1).contiguous()[None]
    r = tvF.resize(t, [oh, ow], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)
    return r[0].permute(1, 2, 0).contiguous()


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(2024)
    os.makedirs(os.path.join(out, "resize"), exist_ok=True)
    tensors = {}
    for i, ((w, h), (ow, oh)) in enumerate(RESIZE_PAIRS):
        a = image(rng, w, h)
        Image.fromarray(a).save(os.path.join(out, "resize", f"img{i}.png"))
        tensors[f"tv_{i}"] = tv_resize(a, ow, oh)
        tensors[f"pil_{i}"] = torch.from_numpy(np.asarray(Image.fromarray(a).resize((ow, oh), Image.BICUBIC)).copy())
    save_file(tensors, os.path.join(out, "resize.safetensors"))

    os.makedirs(os.path.join(out, "proc"), exist_ok=True)
    imgs = []
    for j, (w, h) in enumerate(PROC_SIZES):
        p = os.path.join(out, "proc", f"img{j}.png")
        Image.fromarray(image(rng, w, h)).save(p)
        imgs.append(Image.open(p).convert("RGB"))
    for backend, cls in [("torchvision", Qwen2VLImageProcessor), ("pil", Qwen2VLImageProcessorPil)]:
        for bname, (lo, hi) in BOUNDS.items():
            d = os.path.join(out, "proc", f"{backend}-{bname}")
            ip = cls(min_pixels=lo, max_pixels=hi)
            ip.save_pretrained(d)
            cfg_path = os.path.join(d, "preprocessor_config.json")
            cfg = json.load(open(cfg_path))
            cfg["image_backend"] = backend
            json.dump(cfg, open(cfg_path, "w"), indent=2)
            # the saved config loads back as the same processor
            again = AutoImageProcessor.from_pretrained(d, backend=backend)
            assert type(again) is cls, (type(again), cls)
            pix = {}
            for j, img in enumerate(imgs):
                f = again(images=[img], return_tensors="pt")
                pix[f"pixel_values_{j}"] = f["pixel_values"].contiguous()
                pix[f"grid_thw_{j}"] = f["image_grid_thw"][0].contiguous()
            save_file(pix, os.path.join(d, "pixels.safetensors"))

    base = {k: v for k, v in Qwen2VLImageProcessor().to_dict().items() if k in (
        "do_convert_rgb", "do_normalize", "do_rescale", "do_resize", "image_mean", "image_std", "merge_size",
        "patch_size", "resample", "rescale_factor", "temporal_patch_size")}
    base["image_processor_type"] = "Qwen2VLImageProcessor"
    sizes = {}
    probe = Image.fromarray(np.zeros((300, 500, 3), np.uint8))
    for name, extra in SIZE_CASES.items():
        d = os.path.join(out, "sizes", name)
        os.makedirs(d, exist_ok=True)
        json.dump({**base, **extra}, open(os.path.join(d, "preprocessor_config.json"), "w"))
        ip = AutoImageProcessor.from_pretrained(d)
        try:
            ip(images=[probe], return_tensors="pt")
            sizes[name] = [ip.size["shortest_edge"], ip.size["longest_edge"]]
        except ValueError as e:
            sizes[name] = "error: " + str(e)[:120]
    json.dump(sizes, open(os.path.join(out, "sizes.json"), "w"), indent=1)
    manifest = {
        "resize_pairs": RESIZE_PAIRS, "proc_sizes": PROC_SIZES, "bounds": BOUNDS,
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "pillow": PIL.__version__},
    }
    json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"), indent=1)
    print("done", out)


if __name__ == "__main__":
    main()
