"""Plots people would rather look at than read: side-by-side quick-looks, zoomed crops, error maps,
filter frequency responses, training loss curves. Every ``*_figure`` function returns a matplotlib Figure
(never calls ``show``); :func:`render`, :func:`band_composites` and :func:`crop_box` make the 8-bit RGB
views with a shared stretch that a UI (the demo) shows."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .sensors import Sensor

__all__ = ["rgb_quicklook", "render", "band_composites", "crop_box", "comparison_figure", "error_map_figure", "mtf_response_figure", "loss_curves_figure", "moving_average", "embedding_figure", "textured_window",
           "sam_map", "textured_windows", "coregistration_figure", "tile_positions", "tile_choice_figure", "detail_figure"]


def rgb_quicklook(image: np.ndarray, rgb: Sequence[int] = (0, 1, 2), percentiles=(2, 98), reference=None) -> np.ndarray:
    """(B, H, W) or (H, W) -> (H, W, 3) or (H, W) float in 0..1, percentile-stretched per channel.

    ``reference``: stretch with the percentiles of this image instead (so several fusions of one
    scene share one colour scale and differences are real, not stretch artefacts).
    """
    from .io import stretch

    img = image[list(rgb)] if image.ndim == 3 else image
    ref = img if reference is None else (reference[list(rgb)] if reference.ndim == 3 else reference)
    out = stretch(img, *percentiles, reference=ref)
    return np.moveaxis(out, 0, -1) if out.ndim == 3 else out


def comparison_figure(images: Mapping[str, np.ndarray], rgb: Sequence[int], *, zoom: tuple[int, int, int] | None = None,
                      reference_key: str | None = None, title: str | None = None, panel_size: float = 3.2):
    """One column per image (name -> (B, H, W) or (H, W)); a second row of zoomed crops when ``zoom``
    = (row, col, size) in pixels of the largest image. All colour images share the stretch of
    ``reference_key`` (default: the first colour image)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    names = list(images)
    colour = [n for n in names if images[n].ndim == 3]
    ref_name = reference_key or (colour[0] if colour else None)
    full = max(images[n].shape[-1] for n in names)
    rows = 2 if zoom else 1
    fig, axes = plt.subplots(rows, len(names), figsize=(panel_size * len(names), panel_size * rows + 0.4), squeeze=False,
                             layout="constrained", dpi=100)
    for j, name in enumerate(names):
        img = images[name]
        ref = images[ref_name] if (img.ndim == 3 and ref_name is not None and images[ref_name].shape[0] == img.shape[0]) else None
        if ref is not None and ref.shape[-1] != img.shape[-1]:
            ref = None
        view = rgb_quicklook(img, rgb, reference=ref)
        cmap = "gray" if view.ndim == 2 else None
        axes[0, j].imshow(view, cmap=cmap, interpolation="nearest")
        axes[0, j].set_title(name, fontsize=10)
        if zoom:
            r, c, size = zoom
            scale = img.shape[-1] / full
            rr, cc, ss = int(r * scale), int(c * scale), max(int(size * scale), 1)
            axes[0, j].add_patch(Rectangle((cc, rr), ss, ss, fill=False, edgecolor="yellow", linewidth=1.2))
            axes[1, j].imshow(view[rr:rr + ss, cc:cc + ss], cmap=cmap, interpolation="nearest")
            axes[1, j].set_title(f"zoom, {ss}×{ss} px", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


def error_map_figure(fused: Mapping[str, np.ndarray], reference: np.ndarray, *, panel_size: float = 3.2,
                     percentile: float = 95):
    """Per-pixel spectral angle (degrees) between each fused image and the reference, on one colour scale
    from 0 to the ``percentile``-th percentile of all maps (a few outlier pixels would otherwise leave the
    rest black); brighter pixels are clipped, as the colour bar's arrow shows."""
    import matplotlib.pyplot as plt

    maps = {k: sam_map(v, reference) for k, v in fused.items()}
    vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps.values()]), percentile))
    fig, axes = plt.subplots(1, len(maps), figsize=(panel_size * len(maps) + 0.8, panel_size + 0.4), squeeze=False,
                             layout="constrained", dpi=100)
    for ax, (name, m) in zip(axes[0], maps.items()):
        im = ax.imshow(m, cmap="magma", vmin=0, vmax=vmax)
        ax.set_title(f"{name}: SAM map", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, extend="max",
                 label=f"spectral angle (°)\ncapped at the {percentile:g}th pct.")
    return fig


def mtf_response_figure(sensor, size: int = 41, n_freq: int = 256):
    """Radial cut of each MS band's and the PAN's MTF-matched filter frequency response, with the
    gain at Nyquist marked (the quantity the filter is designed to hit)."""
    import matplotlib.pyplot as plt

    from .physics import mtf_kernel

    freqs = np.fft.rfftfreq(n_freq)
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained", dpi=100)
    gains = list(sensor.gnyq_ms) + [sensor.gnyq_pan]
    names = list(sensor.bands) + ["PAN"]
    for name, g in zip(names, gains):
        k = mtf_kernel(g, sensor.ratio, size)
        response = np.abs(np.fft.rfft(k.sum(axis=0), n=n_freq))
        ax.plot(freqs, response, lw=2.0 if name == "PAN" else 1.0, ls="--" if name == "PAN" else "-", label=f"{name} ({g:.3g})")
    nyq = 0.5 / sensor.ratio
    ax.axvline(nyq, color="k", lw=0.8)
    ax.text(nyq, 1.03, " MS Nyquist 1/(2r)", fontsize=8)
    values, counts = np.unique(np.round(sensor.gnyq_ms, 6), return_counts=True)
    if counts.max() > 1:  # bands with one gain share one filter: say so instead of hiding the curves
        ax.text(0.97, 0.6, f"{counts.max()} MS bands share the gain {values[counts.argmax()]:.3g}:\ntheir curves coincide",
                transform=ax.transAxes, ha="right", fontsize=8)
    ax.set_xlabel("frequency (cycles / PAN pixel)")
    ax.set_ylabel("|H(f)|")
    ax.set_title(f"{sensor.long_name}: MTF-matched filters (ratio {sensor.ratio})")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=7, title="band (gain at Nyquist)", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average (the first values average what is available), same length as ``values``."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or v.size == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def loss_curves_figure(histories: Mapping[str, Sequence[Mapping[str, float]]], terms: Sequence[str] | None = None, *,
                       smooth: int = 5, panel_size: float = 3.2):
    """Training curves of several runs: one panel per loss term, one line per run.

    ``histories``: run label -> per-iteration log rows (``TrainResult.history`` of Stage I or II: dicts
    with ``iteration`` or ``step`` and one float per loss term). ``terms``: the keys to plot (default:
    ``total``/``loss`` plus every term that some run logs, in first-seen order; bookkeeping keys such as
    ``lr`` and ``seconds`` are skipped). Raw values are drawn faintly, a ``smooth``-iteration trailing
    moving average on top. A run that lacks a term is simply absent from that panel.
    """
    import matplotlib.pyplot as plt

    skip = {"iteration", "step", "lr", "seconds"}
    if terms is None:
        terms = []
        for rows in histories.values():
            for key in (rows[0] if rows else {}):
                if key not in skip and "." not in key and key not in terms:
                    terms.append(key)
        terms.sort(key=lambda k: k not in ("total", "loss"))  # the total first, the rest in logged order
    if not terms:
        raise ValueError("no loss term to plot")
    fig, axes = plt.subplots(1, len(terms), figsize=(panel_size * len(terms), panel_size), squeeze=False,
                             layout="constrained", dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, term in zip(axes[0], terms):
        for i, (label, rows) in enumerate(histories.items()):
            if not rows or term not in rows[0]:
                continue
            x = np.array([r.get("iteration", r.get("step", j + 1)) for j, r in enumerate(rows)])
            y = np.array([r[term] for r in rows], dtype=np.float64)
            c = colours[i % len(colours)]
            ax.plot(x, y, color=c, alpha=0.25, lw=0.8)
            ax.plot(x, moving_average(y, smooth), color=c, lw=1.6, label=label)
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{term} (loss value)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- 8-bit views for a UI
def band_composites(sensor: Sensor) -> dict[str, tuple[int, int, int]]:
    """Named 3-band composites for ``sensor`` (0-based band indices, shown as R, G, B).

    Always the sensor's true colour; a colour-infrared composite (NIR, red, green) when the sensor
    has a NIR band; a SWIR composite (SWIR2, NIR, red) for sensors with SWIR; otherwise, for
    sensors without those names, bands in file order.
    """
    bands = [b.lower() for b in sensor.bands]
    r, g, b = sensor.rgb
    out = {f"true colour ({sensor.bands[r]}, {sensor.bands[g]}, {sensor.bands[b]})": (r, g, b)}

    def find(*names: str) -> int | None:
        for n in names:
            if n in bands:
                return bands.index(n)
        return None

    nir, red, green = find("nir", "nir1"), find("red"), find("green")
    if nir is not None and red is not None and green is not None:
        out[f"false colour ({sensor.bands[nir]}, {sensor.bands[red]}, {sensor.bands[green]})"] = (nir, red, green)
    swir2 = find("swir2")
    if swir2 is not None and nir is not None and red is not None:
        out[f"SWIR ({sensor.bands[swir2]}, {sensor.bands[nir]}, {sensor.bands[red]})"] = (swir2, nir, red)
    if len(out) == 1 and sensor.n_bands >= 3:
        n = sensor.n_bands
        alt = (n - 1, n // 2, 0)
        if len(set(alt)) == 3 and alt != (r, g, b):
            out[f"bands ({sensor.bands[alt[0]]}, {sensor.bands[alt[1]]}, {sensor.bands[alt[2]]})"] = alt
    return out


def crop_box(shape: tuple[int, int], row_frac: float, col_frac: float, size: int) -> tuple[int, int, int]:
    """The square crop (row, col, size) in pixels of an image of ``shape`` (H, W) centred at the
    fractional position (``row_frac``, ``col_frac``) in 0..1, clamped to stay inside the image."""
    H, W = shape
    size = int(max(1, min(size, H, W)))
    row = int(round(np.clip(row_frac, 0, 1) * H - size / 2))
    col = int(round(np.clip(col_frac, 0, 1) * W - size / 2))
    return int(np.clip(row, 0, H - size)), int(np.clip(col, 0, W - size)), size


def render(image: np.ndarray, bands: Sequence[int] | None = None, *, reference: np.ndarray | None = None,
           box: tuple[int, int, int] | None = None, outline: tuple[int, int, int] | None = None,
           display_size: int | None = None, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """An 8-bit view of a scene image for display.

    Args:
        image: (B, H, W) multispectral or (H, W) single-band image, any units.
        bands: the three band indices shown as R, G, B (ignored for a single band).
        reference: stretch with this image's percentiles (e.g. the scene's MS) so that every
            result of one scene shares a colour scale and differences are real.
        box: optional crop (row, col, size) in pixels of ``image`` (see :func:`crop_box`).
        outline: optional square (row, col, size) drawn as a one-pixel yellow frame (where the
            zoomed crop lies, on an uncropped view).
        display_size: upscale the (cropped) view with nearest neighbour so its long side is at
            least this many pixels (crops stay pixel-sharp instead of being smoothed by the browser).

    Returns:
        (h, w, 3) uint8.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 3:
        idx = list(bands if bands is not None else range(min(3, img.shape[0])))
        if len(idx) != 3 or max(idx) >= img.shape[0] or min(idx) < 0:
            raise ValueError(f"band composite {idx} does not fit an image with {img.shape[0]} bands")
    # Crops keep the stretch of the whole image (or of ``reference``), so zoomed views match full
    # ones; a single-band image (the PAN) ignores a multispectral reference.
    ref = img if reference is None or np.ndim(reference) != img.ndim else np.asarray(reference)
    if box is not None:
        r, c, s = box
        img = img[..., r:r + s, c:c + s]
    view = rgb_quicklook(img, idx if img.ndim == 3 else None, percentiles=percentiles, reference=ref)
    if view.ndim == 2:
        view = np.repeat(view[..., None], 3, axis=-1)
    out = (np.clip(np.nan_to_num(view), 0, 1) * 255 + 0.5).astype(np.uint8)
    if outline is not None:
        r, c, s = outline
        r1, c1 = min(r + s, out.shape[0]) - 1, min(c + s, out.shape[1]) - 1
        yellow = np.array([255, 255, 0], np.uint8)
        out[[r, r1], c:c1 + 1] = yellow
        out[r:r1 + 1, [c, c1]] = yellow
    if display_size:
        k = int(np.ceil(display_size / max(out.shape[:2])))
        if k > 1:
            out = out.repeat(k, axis=0).repeat(k, axis=1)
    return out


def embedding_figure(points: Mapping[str, tuple[float, float]], kinds: Mapping[str, str], *, size: float = 4.2):
    """The 2-D embedding view of :func:`clippan_kit.compare.supervisor_report`: the three text anchors
    (stars, joined as a triangle), the MS / PAN / ground-truth embeddings (squares) and each fused image's
    (dots), in the plane of the anchors. Returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(size * 1.45, size), layout="constrained", dpi=100)
    text = [k for k in points if kinds.get(k) == "text"]
    if len(text) == 3:
        tri = np.array([points[k] for k in (*text, text[0])])
        ax.plot(tri[:, 0], tri[:, 1], color="0.75", lw=1, zorder=1)
    # Methods are drawn over the inputs (an untrained supervisor puts everything in one spot); inputs and
    # methods are named in the legend, so that coinciding points never hide each other's labels.
    input_markers = iter(["s", "D", "P", "X", "v"])
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n_method = 0
    for name, (x, y) in points.items():
        kind = kinds.get(name, "method")
        if kind == "text":
            ax.scatter([x], [y], marker="*", s=220, color="black", zorder=5)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(7, 6), fontsize=9, color="0.15")
        elif kind == "input":
            ax.scatter([x], [y], marker=next(input_markers, "s"), s=110, color="0.6", zorder=3, label=name)
        else:
            ax.scatter([x], [y], marker="o", s=45, color=cycle[n_method % len(cycle)], zorder=4, label=name,
                       edgecolors="white", linewidths=0.6)
            n_method += 1
    ax.set_xlabel("along PAN prompt − MS prompt")
    ax.set_ylabel("towards the HRMS prompt")
    ax.set_title("supervisor embeddings, plane of the three text anchors", fontsize=10)
    ax.set_aspect("equal", adjustable="datalim")
    if len(points) > 3:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def textured_window(pan: np.ndarray, size: int, margin: int | None = None) -> tuple[int, int, int]:
    """``(row, col, size)`` of the ``size`` × ``size`` window of ``pan`` (H, W) with the most detail, for
    :func:`comparison_figure`'s ``zoom``: the window maximising the mean squared PAN gradient, so zoomed
    crops show edges and texture where fusion methods differ (not a flat roof or water). ``margin``
    (default ``size // 4``) keeps the window off the image border, where filters are padded."""
    return textured_windows(pan, size, 1, margin)[0]


# ----------------------------------------------------------------------------- λ-PNN / JESSE (notebook 7)
def sam_map(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel spectral angle (degrees, 0..180) between ``image`` and ``reference``, both (B, H, W):
    (H, W) float64 (0 where either spectrum is zero), the per-pixel angles of the SAM metric
    (:func:`clippan_kit.metrics.reduced.sam_angles`)."""
    import torch

    from .metrics.reduced import sam_angles

    x, ref = (torch.from_numpy(np.asarray(a, np.float64))[None] for a in (image, reference))
    return np.degrees(sam_angles(x, ref)[0][0].numpy())


def textured_windows(pan: np.ndarray, size: int, n: int, margin: int | None = None) -> list[tuple[int, int, int]]:
    """Up to ``n`` non-overlapping ``(row, col, size)`` windows of ``pan`` (H, W), most textured first
    (largest mean squared PAN gradient; see :func:`textured_window`, the first of them), chosen greedily:
    each next window is the best one that overlaps none already chosen. ``margin`` (default ``size // 4``)
    keeps the windows off the image border."""
    p = np.asarray(pan, dtype=np.float64)
    g = np.zeros_like(p)
    g[:, :-1] += np.diff(p, axis=1) ** 2
    g[:-1, :] += np.diff(p, axis=0) ** 2
    margin = size // 4 if margin is None else margin
    c = np.pad(g.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image: every window sum in O(1)
    sums = c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]  # (H-size+1, W-size+1)
    allowed = np.zeros(sums.shape, bool)  # top-left corners still available
    allowed[margin:max(sums.shape[0] - margin, margin + 1), margin:max(sums.shape[1] - margin, margin + 1)] = True
    chosen: list[tuple[int, int, int]] = []
    while len(chosen) < n and allowed.any():
        r, col = np.unravel_index(int(np.argmax(np.where(allowed, sums, -np.inf))), sums.shape)  # first maximum
        chosen.append((int(r), int(col), int(size)))
        allowed[max(r - size + 1, 0):r + size, max(col - size + 1, 0):col + size] = False  # would overlap it
    return chosen


def coregistration_figure(ms_lr: np.ndarray, pan: np.ndarray, sensor, *, search: int = 4, semi_width: int = 8,
                          crop: int = 3, panel_size: float = 2.0, percentile: float = 5):
    """The λ-PNN co-registration search, one panel per MS band, and the chosen shifts.

    Each band's panel is the released code's score of every candidate shift (r, c) in half-PAN-pixel
    units, -``search`` .. ``search`` (mean local correlation between the band of EXP and the MTF-filtered
    PAN shifted by (r/2, c/2); :mod:`clippan_kit.physics.coregistration`), drawn as the drop from that
    band's best score, on one colour scale for all bands capped at the ``percentile``-th percentile (a
    few far-off candidates would otherwise wash the peaks out). The best candidate is marked; the last
    panel shows every band's shift in PAN pixels. Scores are computed exactly (every pixel, 81 passes:
    under a second on a 128² scene; crop larger scenes first).

    Args:
        ms_lr: (B, h, w) LR MS, any units. pan: (H, W) PAN, H = ratio h.
        sensor: :class:`~clippan_kit.sensors.Sensor` (MTF gains, ratio, band names).

    Returns:
        ``(figure, shifts)``: shifts (B, 2) int64 (r, c), the argmax of each panel, i.e.
        :func:`~clippan_kit.physics.coregister` with ``exact=True``.
    """
    import matplotlib.pyplot as plt
    import torch

    from .physics import interp23tap, mtf_filter
    from .physics.coregistration import best_shifts, coregistration_scores  # the search's one implementation

    r = sensor.ratio
    m = torch.as_tensor(np.asarray(ms_lr, np.float64))
    p = torch.as_tensor(np.asarray(pan, np.float64)).reshape(m.shape[-2] * r, m.shape[-1] * r)
    pan_lp = mtf_filter(p, sensor.gnyq_pan, r, convention="lambda-pnn-pan")
    found = coregistration_scores(interp23tap(m, r), pan_lp, search, semi_width, crop)  # (n, n, B)
    shifts = best_shifts(found, search)  # as coregister picks them
    scores = found.numpy()
    n, B = scores.shape[0], scores.shape[-1]
    drop = scores - scores.reshape(n * n, B).max(0)  # 0 at each band's best shift
    vmin = float(np.percentile(drop, percentile))
    cols = min(B + 1, 5)
    rows = -(-(B + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols + 1.0, panel_size * rows + 0.5), squeeze=False,
                             layout="constrained", dpi=100)
    ext = (-search - 0.5, search + 0.5, search + 0.5, -search - 0.5)
    names = list(getattr(sensor, "bands", [])) or [f"band {b + 1}" for b in range(B)]
    for b in range(B):
        ax = axes.flat[b]
        im = ax.imshow(drop[..., b], cmap="viridis", vmin=vmin, vmax=0, extent=ext, interpolation="nearest")
        ax.plot(shifts[b, 1], shifts[b, 0], marker="+", color="red", ms=10, mew=2)
        ax.set_title(f"{names[b]}: r={shifts[b, 0]}, c={shifts[b, 1]}", fontsize=9)
        ax.set_xlabel("c (½ PAN px)", fontsize=8)
        ax.set_ylabel("r (½ PAN px)", fontsize=8)
        ticks = list(range(-search, search + 1, 2))
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.tick_params(labelsize=7)
    ax = axes.flat[B]
    jitter = np.linspace(-0.12, 0.12, B)  # bands with one shift would hide each other
    for b in range(B):
        ax.scatter(shifts[b, 1] / 2 + jitter[b], shifts[b, 0] / 2 + jitter[b], s=30, label=names[b])
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(0, color="0.7", lw=0.8)
    ax.set_xlim(-search / 2 - 0.4, search / 2 + 0.4)
    ax.set_ylim(search / 2 + 0.4, -search / 2 - 0.4)
    ax.set_aspect("equal")
    ax.set_xlabel("column shift (PAN px)", fontsize=8)
    ax.set_ylabel("row shift (PAN px)", fontsize=8)
    ax.set_title("chosen shifts", fontsize=9)
    ax.tick_params(labelsize=7)
    for extra in axes.flat[B + 1:]:
        extra.set_axis_off()
    # The legend goes into a spare panel when there is one: outside its axes it would widen one column
    # of the constrained layout and leave a gap in the other row.
    spare = axes.flat[B + 1:]
    if len(spare):
        spare[0].legend(*ax.get_legend_handles_labels(), fontsize=7, loc="center left", frameon=False)
    else:
        ax.legend(fontsize=6, loc="best", frameon=False)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, location="right",
                 extend="min", label=f"score − band's best\n(capped at the {percentile:g}th pct.)")
    fig.suptitle("co-registration: mean local correlation of each EXP band with the shifted PAN", fontsize=10)
    return fig, shifts


def tile_positions(shape: tuple[int, int], tile: int, indices: Sequence[int]) -> list[tuple[int, int]]:
    """Top-left (row, col) in pixels of tiles given by their index in the row-major grid of non-overlapping
    ``tile``-sized tiles of an image of ``shape`` (H, W) (the indices :func:`clippan_kit.train.select_tiles`
    returns on a scene without nodata tiles)."""
    per_row = shape[1] // tile
    return [(int(i) // per_row * tile, int(i) % per_row * tile) for i in indices]


def tile_choice_figure(pan: np.ndarray, tile: int, chosen: Sequence[int], *, title: str | None = None,
                       size: float = 5.0, percentiles: tuple[float, float] = (2, 98)):
    """The PAN (H, W) with the grid of ``tile``-sized tiles (thin lines) and the tiles chosen for target
    adaptation (``chosen``: row-major grid indices, numbered in the order of choice) framed in colour.
    The PAN is stretched between the given percentiles."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    p = np.asarray(pan)
    H, W = p.shape
    fig, ax = plt.subplots(figsize=(size, size * H / W + 0.4), layout="constrained", dpi=100)
    ax.imshow(rgb_quicklook(p, percentiles=percentiles), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for y in range(tile, H - H % tile, tile):
        ax.axhline(y - 0.5, color="white", lw=0.4, alpha=0.5)
    for x in range(tile, W - W % tile, tile):
        ax.axvline(x - 0.5, color="white", lw=0.4, alpha=0.5)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    inset = max(1.0, tile / 40)  # frames drawn just inside their tile: neighbouring chosen tiles stay apart
    for k, (r, c) in enumerate(tile_positions((H, W), tile, chosen)):
        colour = colours[k % len(colours)]
        ax.add_patch(Rectangle((c - 0.5 + inset, r - 0.5 + inset), tile - 2 * inset, tile - 2 * inset, fill=False,
                               edgecolor=colour, linewidth=2.0))
        ax.text(c + tile * 0.06, r + tile * 0.06, str(k + 1), color=colour, fontsize=9, va="top", weight="bold",
                bbox=dict(facecolor="black", alpha=0.5, pad=1, lw=0))
    ax.set_xlabel("column (PAN px)")
    ax.set_ylabel("row (PAN px)")
    ax.set_title(title or f"{len(chosen)} of {(H // tile) * (W // tile)} tiles ({tile}×{tile}) chosen", fontsize=10)
    return fig


def detail_figure(images: Mapping[str, np.ndarray], rgb: Sequence[int], windows: Sequence[tuple[int, int, int]], *,
                  reference: np.ndarray | None = None, stretch_key: str | None = None, panel_size: float = 2.4,
                  percentile: float = 95):
    """Before/after detail: one column per image (name -> (B, H, W) colour or (H, W) PAN, all on one grid),
    a first row of whole images with the ``windows`` ((row, col, size) in pixels) framed and numbered,
    one row of crops per window, and, when ``reference`` (B, H, W) is given, a last row of per-pixel
    spectral-angle maps (:func:`sam_map`) of each colour image against it, on one colour scale capped at
    the ``percentile``-th percentile of all maps (single-band images and the reference itself get an
    empty panel there).
    Crops keep the stretch of the whole image; colour images share the stretch of ``stretch_key``
    (default: the first colour image), so colour differences between columns are real."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    names = list(images)
    colour = [k for k in names if np.ndim(images[k]) == 3]
    ref_img = images[stretch_key or colour[0]] if colour else None
    views = {k: rgb_quicklook(v, rgb, reference=ref_img if np.ndim(v) == 3 else None) for k, v in images.items()}
    n_rows = 1 + len(windows) + (reference is not None)
    fig, axes = plt.subplots(n_rows, len(names), figsize=(panel_size * len(names) + (1.0 if reference is not None else 0),
                                                          panel_size * n_rows + 0.3),
                             squeeze=False, layout="constrained", dpi=100)
    frame = ["yellow", "cyan", "magenta", "orange"]
    for j, name in enumerate(names):
        view, cmap = views[name], ("gray" if views[name].ndim == 2 else None)
        axes[0, j].imshow(view, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        axes[0, j].set_title(name, fontsize=10)
        for i, (r, c, s) in enumerate(windows):
            col = frame[i % len(frame)]
            axes[0, j].add_patch(Rectangle((c - 0.5, r - 0.5), s, s, fill=False, edgecolor=col, linewidth=1.2))
            axes[0, j].text(c + 1, r + 1, str(i + 1), color=col, fontsize=8, va="top")
            axes[1 + i, j].imshow(view[r:r + s, c:c + s], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            axes[1 + i, j].set_title(f"{name}, window {i + 1} ({s}×{s})", fontsize=8)
            for side in axes[1 + i, j].spines.values():
                side.set_edgecolor(col)
                side.set_linewidth(2)
    if reference is not None:
        maps = {k: sam_map(images[k], reference) for k in colour if images[k] is not reference}
        vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps.values()]), percentile)) if maps else 1.0
        im = None
        for j, name in enumerate(names):
            ax = axes[-1, j]
            if name not in maps:
                ax.set_axis_off()
                continue
            im = ax.imshow(maps[name], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(f"{name}: SAM vs reference", fontsize=8)
        if im is not None:
            fig.colorbar(im, ax=axes[-1].tolist(), shrink=0.8, extend="max",
                         label=f"spectral angle (°)\ncapped at the {percentile:g}th pct.")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
