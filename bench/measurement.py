"""One measurement of a benchmark suite as a JSON line (stdlib only).

    python3 bench/measurement.py --suite audit --name "update, durable: pulse / no trigger" \
        --variant pulse --baseline none --unit tps --values "1100 1090 1120" \
        --baseline-values "1500 1480 1510" --ratio variant/baseline --target ">= 0.9"

The suites (bench/suites/*.sh) call it once per measurement, through record() in
bench/common.sh, with the per-round values they measured; bench/report.py reads the lines.
The statistics are computed here, once, so that every suite reports them the same way:

- median, min and max of the variant's values (and of the baseline's, when there is one);
- ratio: median against median, in the direction given by --ratio, chosen so that it reads
  as the target is worded ("audited / unaudited throughput", "pulse time / by-hand time",
  "botocore time / pulse time"); without --ratio there is none and a target applies to the
  median itself (e.g. "pulse.authenticate < 10 us per call");
- met: whether the ratio (or the median) satisfies the target; null without a target, and
  null with no ratio when a difference (added time per row) came out at or below zero, i.e.
  within the noise of the run.
"""

import argparse
import json
import operator
import statistics
import sys

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.split()]


def parse_target(text: str) -> tuple[str, float]:
    op, _, number = text.strip().partition(" ")
    if op not in OPERATORS:
        raise ValueError(f"target {text!r}: want '<op> <number>' with op one of {', '.join(OPERATORS)}")
    return op, float(number)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def evaluate(result: dict) -> dict:
    """Fills in the statistics of a measurement from its values, baseline values, ratio
    definition and target (bench/report.py --rerender uses it on stored results too)."""
    values, baseline_values = result["values"], result["baseline_values"]
    if not values:
        raise ValueError(f"{result['name']}: no values")
    result.update(summary(values))
    result["baseline_median"] = statistics.median(baseline_values) if baseline_values else None
    result["ratio"] = result["met"] = None
    if result["ratio_definition"]:
        if not baseline_values:
            raise ValueError(f"{result['name']}: a ratio needs baseline values")
        v, b = result["median"], result["baseline_median"]
        num, den = (v, b) if result["ratio_definition"] == "variant/baseline" else (b, v)
        # A ratio of differences (added time per row) at or below zero says only that the
        # difference drowned in the noise: no ratio, and no verdict on its target.
        if num > 0 and den > 0:
            result["ratio"] = num / den
    if result["target"]:
        op, bound = parse_target(result["target"])
        subject = result["ratio"] if result["ratio_definition"] else result["median"]
        result["met"] = None if subject is None else OPERATORS[op](subject, bound)
    return result


def measurement(args: argparse.Namespace) -> dict:
    return evaluate({
        "suite": args.suite,
        "name": args.name,
        "variant": args.variant,
        "baseline": args.baseline,
        "unit": args.unit,
        "values": numbers(args.values),
        "median": None, "min": None, "max": None,
        "baseline_values": numbers(args.baseline_values) if args.baseline_values else [],
        "baseline_median": None,
        "ratio": None,
        "ratio_definition": args.ratio,
        "target": args.target,
        "met": None,
        "note": args.note,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--name", required=True, help="what is measured, as the page shows it")
    parser.add_argument("--variant", required=True, help="the contestant (pulse's side)")
    parser.add_argument("--baseline", default=None, help="what the variant is compared with")
    parser.add_argument("--unit", required=True, help="unit of the values")
    parser.add_argument("--values", required=True, help="the variant's value per round, space-separated")
    parser.add_argument("--baseline-values", default="", help="the baseline's value per round")
    parser.add_argument("--ratio", choices=("variant/baseline", "baseline/variant"), default=None)
    parser.add_argument("--target", default=None, help="'>= 0.9', '<= 1.2', '< 10', ...")
    parser.add_argument("--note", default=None, help="one line shown with the result")
    args = parser.parse_args()
    try:
        print(json.dumps(measurement(args), ensure_ascii=False))
    except ValueError as error:
        sys.exit(f"bench/measurement.py: {error}")


if __name__ == "__main__":
    main()
