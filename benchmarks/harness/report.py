"""The table benchmarks/loader_speed.py prints: for each data set of a report (the JSON the script writes; one
entry per synthetic texture and frame size, or the real dataset), a line describing its frames, then one line
per configuration of every section and the per-stage profiles, each starting with the data set's label (texture
or dataset, frame size, bits per pixel)."""

from __future__ import annotations

SECTIONS = ("decode", "baseline", "opencv", "dali", "end_to_end")
LABEL_WIDTH = 26


def entry_label(entry: dict) -> str:
    """"textured 640x360 2.31bpp", "got10k ~1280x720 2.85bpp": texture (or dataset), frame size (a real
    dataset's mean size, with ~) and the measured bits per pixel of the timed frames."""
    data = entry.get("data", {})
    name = entry.get("texture") or entry.get("source") or ""
    size = entry["size"] if entry.get("source", "synthetic") == "synthetic" else f"~{entry['size']}"
    bpp = data.get("bits_per_pixel")
    return " ".join(p for p in (name, size, None if bpp is None else f"{bpp:.2f}bpp") if p)


def entry_heading(entry: dict) -> str:
    """One line on the entry's frames: bits per pixel (mean, min-max), size(s), KiB per frame, root."""
    d = entry.get("data", {})
    if d.get("bits_per_pixel") is None:
        return f"== {entry.get('name', entry['size'])}: {d.get('root', '')}"
    sizes = d.get("frame_sizes", {})
    size = (f"{entry['size']}" if d.get("distinct_frame_sizes", 1) <= 1
            else f"mean {entry['size']}, {d['distinct_frame_sizes']} sizes, most common "
                 + ", ".join(f"{k} ({v})" for k, v in list(sizes.items())[:3]))
    return (f"== {entry.get('name', entry['size'])}: {d['bits_per_pixel']:.2f} bits per pixel (min "
            f"{d['bits_per_pixel_min']:.2f}, max {d['bits_per_pixel_max']:.2f}) over {d.get('timed_frames')} timed "
            f"frames, {size}, {d.get('mean_jpeg_kb', 0):.1f} KiB per frame; {d.get('root', '')}")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(report: dict) -> None:
    """One line per configuration. samples/s and frames/s: wall-clock medians; /CPU-s: samples per CPU-second
    of this process tree; cores: CPU-s per wall-s used by it; other: cores busy with other processes meanwhile;
    x dec, x base: samples/s over the decode floor / the pytracking-style baseline (see loader_speed.py),
    the same ratios of samples per CPU-second in brackets; MiB: peak PSS (else RSS) of this process tree.
    The first column: texture (or dataset), frame size and measured bits per pixel of the entry's timed frames."""
    W = LABEL_WIDTH
    header = (f"{'data (bits per pixel)':{W}s} {'section':10s} {'configuration':42s} {'samples/s':>9s} "
              f"{'frames/s':>8s} {'/CPU-s':>6s} {'cores':>5s} {'other':>5s} {'x dec (cpu)':>12s} {'x base (cpu)':>12s} {'MiB':>5s}")
    print(header)
    print("-" * len(header))
    for entry in report["sizes"]:
        label = entry_label(entry)
        print(entry_heading(entry))
        for section in SECTIONS:
            for r in entry[section]["rows"] if section == "end_to_end" else entry[section]:
                if r["status"] != "ok":
                    print(f"{label:{W}s} {section:10s} {r['name'][:42]:42s} {r['status']}: {r['reason']}")
                    continue
                extra = ""
                if r.get("overlap_efficiency") is not None:
                    extra = (f"  consumer {r['consumer_samples_per_s']:.0f}/s: ideal overlap "
                             f"{r['expected_samples_per_s']:.1f}, none {r['serial_samples_per_s']:.1f}")

                def pair(key: str) -> str:
                    return f"{_fmt(r.get(key), '.2f')} ({_fmt(r.get(key + '_cpu'), '.2f')})"

                print(f"{label:{W}s} {section:10s} {r['name'][:42]:42s} {r['samples_per_s']:9.1f} "
                      f"{r['frames_per_s']:8.0f} {_fmt(r.get('samples_per_cpu_s'), '6.1f'):>6s} "
                      f"{r['cores_used']:5.2f} {_fmt(r.get('other_load_cores'), '5.2f'):>5s} "
                      f"{pair('ratio_to_decode') if 'ratio_to_decode' in r else '':>12s} "
                      f"{pair('ratio_to_baseline') if 'ratio_to_baseline' in r else '':>12s} "
                      f"{_fmt(r.get('peak_pss_mib') or r.get('peak_rss_mib'), '5.0f'):>5s}{extra}")
        for r in entry.get("startup", {}).get("rows", []):
            status = (f"{r['first_batch_ms']:.0f} ms to the first batch, {r['epoch_s']:.2f} s per epoch"
                      if r["status"] == "ok" else f"{r['status']}: {r['reason']}")
            print(f"{label:{W}s} startup    {r['name'][:42]:42s} {status}")
        saved = entry.get("startup", {}).get("saved_per_epoch")
        if saved:
            print(f"{label:{W}s} startup    persistent workers save {saved['first_batch_ms']:.0f} ms of start-up "
                  f"and {saved['epoch_s']:.2f} s per epoch ({saved['first_batch_ratio']:.2f}x faster first batch)")
        goals = entry.get("summary") or {}
        if goals.get("best"):
            print(f"{label:{W}s} goals      best at N workers: {goals['best']}: {_fmt(goals.get('ratio_to_baseline'), '.2f')}x "
                  f"the pytracking-style baseline (goal 3), {_fmt(goals.get('ratio_to_decode'), '.2f')}x the full-decode "
                  f"floor (goal 1)")
        scale = goals.get("scaling")
        if scale:
            print(f"{label:{W}s} goals      opencv 0 -> {scale['workers']} workers: {scale['speedup']:.2f}x samples/s "
                  f"(goal {0.9 * scale['workers']:.1f}), {_fmt(scale.get('cpu_efficiency'), '.2f')}x samples per "
                  f"CPU-second (goal 0.9)")
        for name, prof in entry["profile"].items():
            if prof.get("status") == "skipped":
                continue
            stages = ", ".join(f"{k} {v:.2f}" for k, v in prof["stages_ms"].items())
            print(f"{label:{W}s} profile    {name}: {prof['total_ms']:.1f} ms/sample on 1 thread "
                  f"({prof['cpu_samples_per_s']:.0f} samples per CPU-s): {stages}")
        print()
