"""What the data fingerprint's image content digest costs a joining worker, on a folder of the real layout's size.

    python bench/fingerprint.py        # → bench/results/fingerprint.json (a few minutes; writes ~17 GB under bench/.work)

The real images are private, so the folder holds stand-ins: one file per image the real box CSVs name (every
shot of the 890 visits, every modality: depth RGB and map per depth shot, thermal RGB and map per thermal shot),
with the real metadata CSV and box CSVs beside them. Hashing reads bytes and does not look at them, so what
matters is each file's size; the images' dimensions are known (depth 1280×720, thermal 1080×1440) and their PNG
sizes are estimated at about half of the raw RGB bytes and half of the raw 8-bit grey bytes
(:data:`ESTIMATED_MB`, stated in the result). Contents are incompressible (random) bytes, unique per file.

Measured in turn, never side by side: the fingerprint a study kept before (count and total size: stat only); a
first join on a host (every image hashed, with the page cache dropped when this process may drop it, else
noted); later joins (the kept digests: stat every image, hash only the CSVs). Wall and CPU seconds, median and
range over the repeats.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import time
from pathlib import Path

import pandas as pd
from _common import REAL_CSV, REPO, SHARED_DATA, WORK, emit, machine

RESULTS = REPO / "bench" / "results"
#: Estimated PNG size of each modality's images (MB): about half the raw bytes (depth 1280×720, thermal 1080×1440;
#: RGB 3 bytes a pixel, maps 1 byte).
ESTIMATED_MB = {"Depth_RGB": 1.4, "Depth_Map_IMG": 0.46, "Thermal_RGB": 2.3, "Thermal_Map_IMG": 0.78}
CAMERA_FOLDERS = {"bounding_box_depth.csv": ("Depth_RGB", "Depth_Map_IMG"),
                  "bounding_box_thermal.csv": ("Thermal_RGB", "Thermal_Map_IMG")}  # fmt: skip


def build_folder(folder: Path) -> dict:
    """The real layout's files, written once (kept between runs: writing ~17 GB takes minutes)."""
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(REAL_CSV, folder / REAL_CSV.name)
        block = os.urandom(8 << 20)
        for box_file, modality_folders in CAMERA_FOLDERS.items():
            shutil.copy(SHARED_DATA / box_file, folder / box_file)
            names = sorted(set(pd.read_csv(SHARED_DATA / box_file, dtype=str)["Filename"].str.strip()))
            for modality in modality_folders:
                (folder / modality).mkdir()
                size = int(ESTIMATED_MB[modality] * 1e6)
                for name in names:
                    header = os.urandom(64)  # unique per file; the rest shared, incompressible bytes
                    with open(folder / modality / name, "wb") as image:
                        image.write(header)
                        image.write((block * (size // len(block) + 1))[: size - len(header)])
        done.write_text("complete\n")
    files = [p for p in folder.glob("*/*.png")]
    return {"images": len(files), "gigabytes": round(sum(p.stat().st_size for p in files) / 1e9, 2)}


def drop_page_cache() -> bool:
    """Ask the kernel to forget cached file pages (needs root and a writable /proc/sys); whether it worked."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measured(call) -> tuple[float, float]:
    """(wall s, CPU s of this process and its threads) of one call."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    call()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(wall, 2), round(usage.ru_utime + usage.ru_stime - cpu, 2)


def summary(runs: list[tuple[float, float]]) -> dict:
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    return {"wall_s_median": statistics.median(walls), "wall_s_range": [min(walls), max(walls)],
            "cpu_s_median": statistics.median(cpus), "cpu_s_range": [min(cpus), max(cpus)], "runs": len(runs)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "fingerprint.json")
    args = parser.parse_args()
    from trainer.data import _fingerprint as fingerprint  # its folder and thread count too

    folder, cache = WORK / "fingerprint-real-layout", WORK / "fingerprint-cache"
    layout = build_folder(folder)
    kept = cache / fingerprint.FOLDER
    old = [measured(lambda: fingerprint.fingerprint_like({"image_bytes": 0}, folder)) for _ in range(args.repeats)]
    first, dropped, digests = [], [], set()
    for _ in range(args.repeats):
        shutil.rmtree(kept, ignore_errors=True)
        dropped.append(drop_page_cache())
        first.append(measured(lambda: digests.add(fingerprint.data_fingerprint(folder, cache)["images_sha256"])))
    later = [measured(lambda: digests.add(fingerprint.data_fingerprint(folder, cache)["images_sha256"]))
             for _ in range(args.repeats)]  # fmt: skip
    block = os.urandom(256 << 20)
    hash_rate = 256 / 1e3 / measured(lambda: hashlib.sha256(block).hexdigest())[0]
    result = {
        "bench": "fingerprint",
        "machine": machine(),
        "layout": {**layout, "estimated_png_mb": ESTIMATED_MB, "source": "names from the real box CSVs"},
        "hash_threads": fingerprint.HASH_THREADS,
        "sha256_gb_per_s_one_core": round(hash_rate, 2),
        "count_and_size_before": summary(old),
        "first_join": {**summary(first), "page_cache_dropped": dropped},
        "later_join": summary(later),
        "same_digest_every_run": len(digests) == 1,
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
