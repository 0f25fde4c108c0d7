"""The table benchmarks/loader_speed.py prints: one line per configuration of every section, then the
per-stage profiles, for each frame size of a report (the JSON the script writes)."""

from __future__ import annotations

SECTIONS = ("decode", "baseline", "opencv", "dali", "end_to_end")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(report: dict) -> None:
    """One line per configuration. samples/s and frames/s: wall-clock medians; /CPU-s: samples per CPU-second
    of this process tree; cores: CPU-s per wall-s used by it; other: cores busy with other processes meanwhile;
    x dec, x base: samples/s over the decode floor / the pytracking-style baseline (see loader_speed.py),
    the same ratios of samples per CPU-second in brackets; MiB: peak PSS (else RSS) of this process tree."""
    header = (f"{'size':8s} {'section':10s} {'configuration':42s} {'samples/s':>9s} {'frames/s':>8s} {'/CPU-s':>6s} "
              f"{'cores':>5s} {'other':>5s} {'x dec (cpu)':>12s} {'x base (cpu)':>12s} {'MiB':>5s}")
    print(header)
    print("-" * len(header))
    for entry in report["sizes"]:
        for section in SECTIONS:
            for r in entry[section]["rows"] if section == "end_to_end" else entry[section]:
                if r["status"] != "ok":
                    print(f"{entry['size']:8s} {section:10s} {r['name'][:42]:42s} {r['status']}: {r['reason']}")
                    continue
                extra = ""
                if r.get("overlap_efficiency") is not None:
                    extra = (f"  consumer {r['consumer_samples_per_s']:.0f}/s: ideal overlap "
                             f"{r['expected_samples_per_s']:.1f}, none {r['serial_samples_per_s']:.1f}")

                def pair(key: str) -> str:
                    return f"{_fmt(r.get(key), '.2f')} ({_fmt(r.get(key + '_cpu'), '.2f')})"

                print(f"{entry['size']:8s} {section:10s} {r['name'][:42]:42s} {r['samples_per_s']:9.1f} "
                      f"{r['frames_per_s']:8.0f} {_fmt(r.get('samples_per_cpu_s'), '6.1f'):>6s} "
                      f"{r['cores_used']:5.2f} {_fmt(r.get('other_load_cores'), '5.2f'):>5s} "
                      f"{pair('ratio_to_decode') if 'ratio_to_decode' in r else '':>12s} "
                      f"{pair('ratio_to_baseline') if 'ratio_to_baseline' in r else '':>12s} "
                      f"{_fmt(r.get('peak_pss_mib') or r.get('peak_rss_mib'), '5.0f'):>5s}{extra}")
        for r in entry.get("startup", {}).get("rows", []):
            status = (f"{r['first_batch_ms']:.0f} ms to the first batch, {r['epoch_s']:.2f} s per epoch"
                      if r["status"] == "ok" else f"{r['status']}: {r['reason']}")
            print(f"{entry['size']:8s} startup    {r['name'][:42]:42s} {status}")
        saved = entry.get("startup", {}).get("saved_per_epoch")
        if saved:
            print(f"{entry['size']:8s} startup    persistent workers save {saved['first_batch_ms']:.0f} ms of start-up "
                  f"and {saved['epoch_s']:.2f} s per epoch ({saved['first_batch_ratio']:.2f}x faster first batch)")
        for name, prof in entry["profile"].items():
            if prof.get("status") == "skipped":
                continue
            stages = ", ".join(f"{k} {v:.2f}" for k, v in prof["stages_ms"].items())
            print(f"{entry['size']:8s} profile    {name}: {prof['total_ms']:.1f} ms/sample on 1 thread "
                  f"({prof['cpu_samples_per_s']:.0f} samples per CPU-s): {stages}")
        print()
