"""Support code of the benchmark scripts in benchmarks/ (run as `python benchmarks/X.py`, which puts benchmarks/
on sys.path, so the scripts import `from harness import ...`).

    machine   the machine description every benchmark writes into its JSON
    cli       argument parser whose errors are one `error: ...` line (exit 2); --out checks; JSON writing
    monitor   CPU time and peak memory of this process tree, and other processes' load (psutil)
    timing    round-robin timed passes over configurations, median summaries, timing a loader
    decode    the decode floor: cv2.imdecode and DALI's CPU or mixed (GPU) decoder over the same bytes
    baseline  the pytracking-style DiMP loader (comparison baseline of loader_speed.py)
    profile   per-stage time of one sample of our OpenCV loader and of the baseline
    report    loader_speed.py's table

Importing these modules starts nothing and imports neither cv2 nor DALI; they are imported where used.
"""
