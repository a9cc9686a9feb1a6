"""Drawing synthetic wound shots whose class cue is subtle and statistical, like the real photos'.

Every visit has a *phase* (a standard-normal latent, higher = further healed; the label is a cut of
it). A shot's images do not draw the label; they draw a **cue**

    cue = signal[modality] · (phase + visit_noise + camera_noise) + shot_noise

where ``visit_noise`` is shared by both cameras of the visit (depth and thermal shots agree with each
other more than with the label: correlated, not copies), ``camera_noise`` is per visit and camera,
and ``shot_noise`` is per shot. The cue then moves *statistics* of the wound region — the share of
slough, granulation and new epithelium in a random tissue texture, the depth of the wound bed, the
warmth of the wound against the skin around it — under lighting, white balance, skin tone, wound
size and shape, camera distance and sensor noise that vary from shot to shot. A CNN can learn the
cue from many shots and overfit it from a few; no single pixel gives the class away.

``signal`` is calibrated per modality (:data:`IMAGE_SIGNAL`) so that the image-only model of the
defaults scores what the research found on the real images (docs/design.md, reference figures): κ ≈ 0.15–0.35 for
``depth_rgb`` and ``thermal_map``, ``depth_map`` the weakest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.schema import IMAGE_MODALITIES, MODALITY_FOLDERS

#: Calibrated cue strength per modality: see README "Demo data" for the measured QWK at these values.
IMAGE_SIGNAL = {"depth_rgb": 0.42, "depth_map": 0.38, "thermal_rgb": 0.5, "thermal_map": 0.62}
VISIT_NOISE = 1.5  # sd of the visit's own deviation from its phase, shared by both cameras
CAMERA_NOISE = 0.4  # sd of each camera's own deviation, per visit
VIEWS = ("MW", "LW", "RW", "MZ")

_SKIN = np.array([205.0, 160.0, 135.0])
# Wound tissue colours: granulation (red), slough (yellow), new epithelium (pink).
_GRANULATION = np.array([180.0, 62.0, 60.0])
_SLOUGH = np.array([196.0, 172.0, 108.0])
_EPITHELIUM = np.array([214.0, 138.0, 136.0])


@dataclass(frozen=True)
class Canvas:
    """Canvas sizes (width, height) of the two cameras, scaled from 1280×720 depth and 1080×1440 thermal."""

    depth: tuple[int, int]
    thermal: tuple[int, int]

    @classmethod
    def scaled(cls, scale: float) -> Canvas:
        return cls(
            (max(64, round(1280 * scale)), max(36, round(720 * scale))),
            (max(54, round(1080 * scale)), max(72, round(1440 * scale))),
        )


def parse_signal(spec: str | float | dict[str, float] | None) -> dict[str, float]:
    """``None`` → the calibrated defaults; a number → that strength for every modality;
    ``"depth_rgb=0.8,thermal_map=0.3"`` → those modalities changed, the others calibrated."""
    from trainer import DataError

    signal = dict(IMAGE_SIGNAL)
    if spec is None:
        return signal
    if isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, int | float):
        items = [(m, spec) for m in IMAGE_MODALITIES]
    else:
        text = str(spec).strip()
        try:
            items = [(m, float(text)) for m in IMAGE_MODALITIES]
        except ValueError:
            items = []
            for part in filter(None, (p.strip() for p in text.split(","))):
                name, sep, value = part.partition("=")
                try:
                    items.append((name.strip(), float(value)) if sep else (name, float("nan")))
                except ValueError:
                    items.append((name.strip(), float("nan")))
    for name, value in items:
        if name not in IMAGE_MODALITIES:
            raise DataError(f"--image-signal: unknown modality {name!r} (choose from {', '.join(IMAGE_MODALITIES)})")
        if not 0 <= float(value) <= 10:
            raise DataError(f"--image-signal: {name} must be a number in [0, 10], got {value}")
        signal[name] = float(value)
    return signal


def visit_cues(
    phases: np.ndarray, signal: dict[str, float], shots: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Cue per modality, shape (visits, shots); the map and RGB image of one camera share a shot's cue
    (they are two renderings of one photo), each scaled by its own modality's signal."""
    n = len(phases)
    appearance = phases + rng.normal(0, VISIT_NOISE, n)
    cues = {}
    for modalities in (("depth_rgb", "depth_map"), ("thermal_rgb", "thermal_map")):  # one camera each
        seen = appearance + rng.normal(0, CAMERA_NOISE, n)
        shot_noise = rng.normal(0, 1, (n, shots))
        for modality in modalities:
            cues[modality] = signal[modality] * seen[:, None] + shot_noise
    return cues


def draw_shot(
    out: Path,
    depth_name: str,
    thermal_name: str,
    cue: dict[str, float],
    canvas: Canvas,
    rng: np.random.Generator,
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Draw one shot in all four modalities; returns the depth and thermal boxes (x0, y0, x1, y1)."""
    depth_box, mask = _wound_box(canvas.depth, rng)
    _save(
        out / MODALITY_FOLDERS["depth_rgb"] / depth_name,
        _depth_rgb(canvas.depth, depth_box, mask, cue["depth_rgb"], rng),
    )
    _save(
        out / MODALITY_FOLDERS["depth_map"] / depth_name,
        _depth_map(canvas.depth, depth_box, mask, cue["depth_map"], rng),
    )

    thermal_box, mask = _wound_box(canvas.thermal, rng)
    temperature = _temperature(canvas.thermal, thermal_box, rng)
    # The map is the camera's absolute scale (24–38 °C → 0–255); the RGB palette is auto-ranged per
    # shot, as thermal cameras do, so it keeps the contrast but loses the absolute level.
    base = temperature["skin"]
    map_field = base + temperature["shape"] * _wound_warmth(cue["thermal_map"], rng)
    rgb_field = base + temperature["shape"] * _wound_warmth(cue["thermal_rgb"], rng)
    _save(out / MODALITY_FOLDERS["thermal_map"] / thermal_name, 255 * np.clip((map_field - 24) / 14, 0, 1))
    _save(out / MODALITY_FOLDERS["thermal_rgb"] / thermal_name, _palette(rgb_field))
    return depth_box, thermal_box


def _depth_rgb(size, box, mask, cue: float, rng: np.random.Generator) -> np.ndarray:
    """Skin with smooth shading; inside the wound a random tissue texture whose mix follows the cue:
    more slough early (low cue), more pink epithelium late (high cue)."""
    tone = rng.normal(0, 14, 3)
    white_balance = rng.normal(1, 0.05, 3)
    brightness = rng.normal(1, 0.08)
    image = _canvas(size, _SKIN + tone, rng)
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    field = _smooth_field(h, w, rng.integers(3, 7), rng) + 0.5 * _smooth_field(h, w, rng.integers(8, 14), rng)
    field /= field.std() + 1e-6
    slough_share = _sigmoid(-1.1 - 0.7 * cue)
    epithelium_share = _sigmoid(-1.4 + 0.7 * cue)
    low, high = np.quantile(field, [slough_share, 1 - epithelium_share])
    tissue = np.where(field[..., None] < low, _SLOUGH, np.where(field[..., None] > high, _EPITHELIUM, _GRANULATION))
    tissue = tissue + rng.normal(0, 16, tissue.shape)  # moist, glossy, speckled tissue
    region = image[y0:y1, x0:x1]
    region[mask] = tissue[mask] + tone * 0.5
    return np.clip(image * white_balance * brightness, 0, 255)


def _depth_map(size, box, mask, cue: float, rng: np.random.Generator) -> np.ndarray:
    """Distance as grey: a tilted skin plane at a shot-dependent camera distance, a wound bed whose
    depth shrinks as the wound heals, and a rough floor."""
    width, height = size
    distance = 175 + rng.normal(0, 18)
    tilt = rng.normal(0, 20, 2)
    yy, xx = np.mgrid[0:height, 0:width]
    depth = distance + tilt[0] * (xx / width - 0.5) + tilt[1] * (yy / height - 0.5)
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    by, bx = np.mgrid[0:h, 0:w]
    bowl = np.clip(1 - ((bx - w / 2) / (w / 2)) ** 2 - ((by - h / 2) / (h / 2)) ** 2, 0, 1)
    wound_depth = 32 - 10 * cue + rng.normal(0, 6)
    floor = _smooth_field(h, w, rng.integers(5, 10), rng) * 6 + rng.normal(0, 5, (h, w))
    region = depth[y0:y1, x0:x1]
    region[mask] = (region - wound_depth * bowl + floor)[mask]
    return depth


def _temperature(size, box, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The skin's temperature field (°C) and the unit-height shape of the wound's warmth."""
    width, height = size
    skin = 30 + rng.normal(0, 1.3) + 0.6 * _smooth_field(height, width, 3, rng)
    x0, y0, x1, y1 = box
    h, w = y1 - y0, x1 - x0
    by, bx = np.mgrid[0:h, 0:w]
    radius = np.sqrt(((bx - w / 2) / (w / 2)) ** 2 + ((by - h / 2) / (h / 2)) ** 2)
    halo = np.exp(-((radius / rng.uniform(0.7, 1.1)) ** 2))  # warmth spreads beyond the wound edge
    patchy = halo * (1 + 0.35 * _smooth_field(h, w, rng.integers(4, 8), rng)) + rng.normal(0, 0.12, (h, w))
    shape = np.zeros((height, width))
    shape[y0:y1, x0:x1] = patchy
    return {"skin": skin, "shape": shape}


def _wound_warmth(cue: float, rng: np.random.Generator) -> float:
    """°C above the skin at the wound centre: inflamed wounds are warm, remodelling ones barely."""
    return 1.0 - 0.55 * cue + rng.normal(0, 0.25)


def _palette(temperature: np.ndarray) -> np.ndarray:
    low, high = np.quantile(temperature, [0.01, 0.99])
    heat = np.clip((temperature - low) / max(high - low, 0.5), 0, 1)
    return np.stack([255 * heat, 255 * (1 - np.abs(2 * heat - 1)), 255 * (1 - heat)], axis=-1)


def _wound_box(size: tuple[int, int], rng: np.random.Generator):
    """A box around an irregular wound; ``mask`` marks the wound's pixels inside the box."""
    width, height = size
    side = int(min(width, height) * rng.uniform(0.2, 0.35))
    box_w, box_h = side, max(8, int(side * rng.uniform(0.7, 1.3)))
    x0, y0 = int(rng.integers(0, width - box_w)), int(rng.integers(0, height - box_h))
    yy, xx = np.mgrid[0:box_h, 0:box_w]
    angle = np.arctan2(yy - box_h / 2, xx - box_w / 2)
    edge = 1 + 0.12 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.08 * np.sin(5 * angle + rng.uniform(0, 6.3))
    mask = ((xx - box_w / 2) / (box_w / 2.2)) ** 2 + ((yy - box_h / 2) / (box_h / 2.2)) ** 2 <= edge**2
    return (x0, y0, x0 + box_w, y0 + box_h), mask


def _canvas(size: tuple[int, int], colour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Smooth shading, not per-pixel noise: noise everywhere makes PNGs ~10× larger and slower to write.
    shade = np.linspace(-1, 1, size[0])[None, :, None] * rng.normal(0, 10, 3)
    return np.broadcast_to(colour, (size[1], size[0], 3)) + shade


def _smooth_field(height: int, width: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean smooth noise: a ``cells``-square random grid resized bilinearly to (height, width)."""
    grid = Image.fromarray(rng.normal(0, 1, (int(cells), int(cells))).astype(np.float32), mode="F")
    return np.asarray(grid.resize((int(width), int(height)), Image.BILINEAR), dtype=float)


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def _save(path: Path, pixels: np.ndarray) -> None:
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, compress_level=1)
