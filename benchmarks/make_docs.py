"""Generate docs/benchmarks.md (and its plot) from the JSON the benchmark scripts write.

    python benchmarks/make_docs.py            # from benchmarks/results/{step_time,time_to_target}.json
    python benchmarks/make_docs.py --quick    # from the *_quick.json files, printed instead of written
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superaccel.experiments.figure import write_atomically  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TIE = 0.10  # within 10 % counts as a tie


def step_time_section(data: dict, plot_path: Path | None) -> list[str]:
    config, rows = data["config"], data["results"]
    sizes = config["sizes"]
    names = list(dict.fromkeys(r["name"] for r in rows))
    by = {(r["name"], r["params"]): r for r in rows}
    lines = [
        "## Step time and memory",
        "",
        f"`{config['command']}` — torch {config['torch']}, {config['threads']} threads, memory bandwidth of an "
        f"in-place elementwise kernel (`a.add_(b)`, two reads and a write) "
        f"{config['inplace_bandwidth_bytes_per_s'] / 1e9:.1f} GB/s.",
        "",
        "Median ratio of step times (contender / its torch baseline), interleaved rounds; the "
        "interquartile range in brackets.",
        "",
        "| contender | baseline | " + " | ".join(f"{s:.0e} params" for s in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for name in names:
        baseline = next(r["baseline"] for r in rows if r["name"] == name)
        cells = []
        for size in sizes:
            r = by.get((name, size))
            cells.append(f"{r['ratio_median']:.2f} ({r['ratio_q1']:.2f}–{r['ratio_q3']:.2f})" if r else "–")
        lines.append(f"| {name} | {baseline} | " + " | ".join(cells) + " |")
    largest = sizes[-1]
    lines += [
        "",
        f"Optimizer state and the physical limit at {largest:.0e} parameters: the bytes an elementwise "
        "step must move at the least (each buffer read once and written once) over the step time, as "
        "a fraction of that measured bandwidth.",
        "",
        "| contender | state bytes/param | baseline state bytes/param | step (ms) | least bytes/param | "
        "% of bandwidth |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        r = by.get((name, largest))
        if r:
            lines.append(f"| {name} | {r['state_bytes_per_param']:.0f} | {r['baseline_state_bytes_per_param']:.0f} | "
                         f"{1e3 * r['seconds_median']:.1f} | {r['min_bytes_per_param']} | "
                         f"{100 * r['bandwidth_fraction']:.0f}% |")
    compile_seconds = config.get("first_step_seconds", {})
    if compile_seconds:
        lines += ["", "First step of the compiled optimizers with an empty Inductor cache (what a user waits for once "
                  "per machine, dtype and optimizer; later runs load the kernels from the cache):", "",
                  "| optimizer | first step (s) |", "|---|---|"]
        lines += [f"| {name} | {seconds:.1f} |" for name, seconds in compile_seconds.items() if seconds > 0.05]
    if plot_path is not None:
        _plot_step_time(rows, plot_path)
        lines += ["", f"![step time vs size]({plot_path.relative_to(ROOT / 'docs').as_posix()})"]
    return lines + [""]


def _plot_step_time(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    series = {}
    for r in rows:
        series.setdefault(r["name"], []).append((r["params"], r["seconds_median"]))
        series.setdefault(f"torch {r['baseline']}", []).append((r["params"], r["baseline_seconds_median"]))
    for name, points in series.items():
        points = sorted(dict(points).items())
        ax.plot(*zip(*points, strict=True), "o-" if not name.startswith("torch") else "k--", label=name, lw=1, ms=3,
                alpha=1 if not name.startswith("torch") else 0.5)
    ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="median step time (s)",
           title="optimizer step time vs size (CPU)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _compare(a, b) -> str:
    if a is None and b is None:
        return "neither reached"
    if a is None:
        return "loses (never reached)"
    if b is None:
        return "wins (the other never reached)"
    if a < b * (1 - TIE):
        return f"wins ({a / b:.2f}×)"
    if a > b * (1 + TIE):
        return f"loses ({a / b:.2f}×)"
    return f"ties ({a / b:.2f}×)"


def time_to_target_section(data: dict) -> tuple[list[str], list[str]]:
    tasks = data["tasks"]
    families = list(next(iter(tasks.values()))["families"])
    lines = [
        "## Time to target, equal tuning budget",
        "",
        f"`{data['config']['command']}` — seeds {data['config']['seeds']}, "
        f"{data['config']['seconds'] / 60:.0f} minutes. Grids: every family the task's lr grid × "
        + "; ".join(f"{f}: {', '.join(v)}" for f, v in data["config"]["families"].items())
        + ". Tuned on seed 0, then run on every seed. Cells: median steps to the target [range] "
        "(median training seconds), the chosen lr and second hyperparameter; — means a seed missed "
        "the target within the step limit.",
        "",
        "| task | " + " | ".join(families) + " |",
        "|---|" + "---|" * len(families),
    ]
    summary = []
    for name, task in tasks.items():
        cells = []
        for family in families:
            f = task["families"][family]
            if f["steps_median"] is None:
                cells.append(f"— ({f['reached']}/3 reached) lr {f['best']['lr']:g}, {f['best']['extra']}")
            else:
                lo, hi = f["steps_range"]
                cells.append(f"**{f['steps_median']:g}** [{lo}–{hi}] ({f['seconds_median']:.2f} s) "
                             f"lr {f['best']['lr']:g}, {f['best']['extra']}")
        lines.append(f"| {name}: {task['description']} | " + " | ".join(cells) + " |")
        fam = task["families"]
        reached = {k: v["steps_median"] for k, v in fam.items() if v["steps_median"] is not None}
        best = min(reached, key=reached.get) if reached else "none"
        summary.append(f"- **{name}**: fastest {best}; SuperSGD vs tuned Nesterov "
                       f"{_compare(fam['SuperSGD']['steps_median'], fam['SGD Nesterov']['steps_median'])}; "
                       f"SuperAdam vs Adam {_compare(fam['SuperAdam']['steps_median'], fam['Adam']['steps_median'])}.")
    rates = [(n, t) for n, t in tasks.items() if "optimal_momentum_rate" in t]
    if rates:
        lines += ["", "Measured asymptotic rate per step (distance, second half of the seed-0 run) against the "
                  "best possible rate of a fixed-step momentum method, (√κ − 1)/(√κ + 1):", "",
                  "| task | bound | " + " | ".join(families) + " |", "|---|---|" + "---|" * len(families)]
        for name, task in rates:
            lines.append(f"| {name} | {task['optimal_momentum_rate']:.4f} | "
                         + " | ".join("–" if task["families"][f].get("rate") is None
                                      else f"{task['families'][f]['rate']:.4f}" for f in families) + " |")
    return lines + [""], summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    sources = {"step": RESULTS / f"step_time{suffix}.json", "target": RESULTS / f"time_to_target{suffix}.json"}
    missing = [str(p) for p in sources.values() if not p.exists()]
    if missing:
        print(f"make_docs: missing {', '.join(missing)}; run the benchmark scripts first", file=sys.stderr)
        return 2
    step, target = (json.loads(p.read_text()) for p in sources.values())
    plot = None if args.quick else ROOT / "docs" / "figures" / "bench_step_time.png"
    target_lines, summary = time_to_target_section(target)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python benchmarks/make_docs.py` from the JSON that `benchmarks/step_time.py` and "
        "`benchmarks/time_to_target.py` write (`make bench` runs all three). Nothing here is typed by hand.",
        "",
        f"Machine: {platform.platform()}, {step['config']['threads']} threads.",
        "",
        "## Summary",
        "",
        *summary,
        "",
        *step_time_section(step, plot),
        *target_lines,
    ]
    text = "\n".join(lines) + "\n"
    if args.quick:
        print(text)
    else:
        write_atomically(ROOT / "docs" / "benchmarks.md", lambda tmp: tmp.write_text(text))
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
