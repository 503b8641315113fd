"""`ctviewer review`, `ctviewer learn` and `ctviewer models`: feedback from the command line."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

import numpy as np

from ctviewer.cli.common import ProgressLine, print_json
from ctviewer.errors import CTViewerError, InputError, ModelError
from ctviewer.feedback import versions
from ctviewer.feedback.store import FeedbackStore
from ctviewer.volume import Finding, ModelInfo, Result


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `review`, `learn` and `models`."""
    review = subparsers.add_parser(
        "review",
        help="record accept/reject decisions on findings of a results.json",
        description="Record decisions in the same store the viewer writes.",
    )
    review.add_argument("results", type=Path, help="results.json written by `ctviewer detect`")
    review.add_argument("--accept", type=int, nargs="+", default=[], metavar="ID")
    review.add_argument("--reject", type=int, nargs="+", default=[], metavar="ID")
    review.add_argument("--normal", action="store_true", help="mark the whole image/series normal")
    review.add_argument("--reviewer", default=None, help="reviewer name (default: login name)")
    review.add_argument("--source", default=None, help="which item (source or series UID)")
    review.add_argument("--comment", default="")
    review.add_argument("--json", action="store_true")
    review.set_defaults(func=run_review)

    learn = subparsers.add_parser(
        "learn",
        help="fine-tune the model from recorded decisions (new model version)",
        description="Incremental learning from the decisions in the feedback store.",
    )
    learn.add_argument("--model", type=Path, default=None, help="base model (default: active)")
    learn.add_argument("--out", type=Path, required=True, help="new model checkpoint")
    learn.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    learn.add_argument(
        "--positive-weight",
        type=float,
        default=None,
        metavar="W",
        help="weight of the outlier-exposure term on accepted findings (0 turns it off)",
    )
    learn.add_argument(
        "--threshold-rule",
        default=None,
        metavar="RULE",
        help="how the new threshold is chosen from the reviewed images: accuracy (default),"
        " youden or specificity",
    )
    learn.add_argument(
        "--replay",
        type=Path,
        nargs="+",
        default=None,
        metavar="PATH",
        help="the original training normals (default: those of the parent version)",
    )
    learn.add_argument("--json", action="store_true")
    learn.set_defaults(func=run_learn)

    models = subparsers.add_parser(
        "models",
        help="installed models and learned versions: list, add FILE, promote V, rollback",
        description="Installed models (what each fits) and the versions learned from feedback.",
    )
    models.add_argument(
        "action", nargs="?", default="list", choices=["list", "add", "rollback", "promote"]
    )
    models.add_argument("version", nargs="?", help="version to promote, or model file to add")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=run_models)


# -- review ---------------------------------------------------------------------------------


def result_from_json(model: dict[str, Any], item: dict[str, Any]) -> Result:
    """A Result rebuilt from one results.json item (no maps: enough to record decisions)."""
    findings = [Finding.from_json(f) for f in item.get("findings", [])]
    empty = np.zeros((int(item.get("slices", 0)), 0, 0), dtype=np.float32)
    return Result(
        source=str(item["source"]),
        series_uid=item.get("series_uid"),
        model=ModelInfo(
            name=str(model.get("name", "")),
            version=str(model.get("version", "")),
            threshold=float(model.get("threshold", item.get("threshold")) or "nan"),
        ),
        score=float("nan") if item.get("score") is None else float(item["score"]),
        threshold=float("nan") if item.get("threshold") is None else float(item["threshold"]),
        abnormal=bool(item["abnormal"]),
        slice_scores=np.asarray(item.get("slice_scores", []), dtype=np.float32),
        anomaly_map=empty,
        labels=empty.astype(np.int32),
        findings=findings,
        assessed=bool(item.get("assessed", True)),
        not_assessed_reason=str(item.get("not_assessed_reason", "")),
    )


def load_results(path: Path) -> list[Result]:
    """Every item of a results.json as a Result (maps not loaded)."""
    try:
        data = json.loads(path.read_text())
        return [result_from_json(data.get("model", {}), item) for item in data["items"]]
    except FileNotFoundError:
        raise InputError("results file not found", path) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"not a ctviewer results.json ({error!r})", path) from None


def _pick_item(results: list[Result], source: str | None, path: Path) -> Result:
    if source is None:
        if len(results) != 1:
            raise InputError(f"{len(results)} items in this file; choose one with --source", path)
        return results[0]
    for result in results:
        if source in (result.source, result.series_uid, Path(result.source).name):
            return result
    raise InputError(f"no item with source or series UID {source!r}", path)


def run_review(args: argparse.Namespace) -> int:
    results = load_results(args.results)
    result = _pick_item(results, args.source, args.results)
    if not result.assessed:
        raise InputError(
            f"not assessed, nothing to review: {result.not_assessed_reason}", args.results
        )
    by_id = {f.id: f for f in result.findings}
    unknown = sorted(set(args.accept + args.reject) - set(by_id))
    if unknown:
        raise InputError(f"no finding with id {unknown} in {result.source}", args.results)
    if set(args.accept) & set(args.reject):
        raise InputError("a finding cannot be both accepted and rejected", args.results)
    if not (args.accept or args.reject or args.normal):
        raise InputError("nothing to record: give --accept, --reject or --normal", args.results)
    reviewer = args.reviewer or getpass.getuser()
    with FeedbackStore() as store:
        recorded = [
            store.record(result, by_id[i], "accept", reviewer, args.comment) for i in args.accept
        ]
        recorded += [
            store.record(result, by_id[i], "reject", reviewer, args.comment) for i in args.reject
        ]
        if args.normal:
            recorded.append(store.record(result, None, "normal", reviewer, args.comment))
    if args.json:
        print_json([d.to_json() for d in recorded])
    else:
        for d in recorded:
            what = f"finding {d.finding_id}" if d.finding_id is not None else "whole image"
            print(f"recorded {d.decision:<6} {what} of {d.source} (decision #{d.id})")
    return 0


# -- learn ----------------------------------------------------------------------------------


def run_learn(args: argparse.Namespace) -> int:
    from ctviewer.feedback.learn import LearnConfig, learn_from_feedback

    config = LearnConfig(epochs=args.epochs)
    if args.positive_weight is not None:
        config.positive_weight = args.positive_weight
    if args.threshold_rule is not None:
        config.threshold_rule = args.threshold_rule
    base = args.model or versions.active_model_path()
    progress = ProgressLine()
    try:
        with FeedbackStore() as store:
            outcome = learn_from_feedback(
                store, base, args.out, progress, config=config, replay=args.replay
            )
    finally:
        progress.close()
    if args.json:
        print_json(outcome.to_json())
    else:
        print(outcome.summary())
    return 0


# -- models ---------------------------------------------------------------------------------


def run_models(args: argparse.Namespace) -> int:
    from ctviewer.model.catalog import ModelCatalog, add_model

    if args.action == "add":
        if not args.version:
            raise CTViewerError("which file? `ctviewer models add MODEL.pt`")
        entry = add_model(args.version)
        print(f"added {entry.name} {entry.version} ({entry.fits.parts_text()}): {entry.path}")
        return 0
    try:
        catalog = ModelCatalog.installed()
    except ModelError as error:  # a missing active version: still list, it says what to do
        catalog = ModelCatalog(problems=[str(error)])
    with FeedbackStore() as store:
        if args.action == "promote":
            if not args.version:
                raise CTViewerError("which version? `ctviewer models promote VERSION`")
            versions.promote(args.version, store)
        elif args.action == "rollback":
            versions.rollback(store)
        elif args.version:
            raise CTViewerError("`models list` takes no version")
        listed = versions.list_versions(store)
        try:
            active, problem = versions.active_model_path(store), ""
        except ModelError as error:  # listing must still work: it is how one finds what to do
            active, problem = None, str(error)
    if args.json:
        print_json(
            {
                "installed": [e.to_json() for e in catalog.entries],
                "active_path": str(active) if active else None,
                "active_problem": problem,
                "versions": [v.to_json() for v in listed],
            }
        )
        return 0
    print("installed models (the one that fits each series is used):")
    for e in catalog.entries:
        parts = e.fits.parts_text()
        line = f"  {e.name:<28} {e.version:<24} {parts:<16} {e.fits.kind_text():<12} {e.source}"
        print(line + (f"  {e.slices_text()}" if e.slices_text() else ""))
    for warning in catalog.problems:
        print(f"  warning: {warning}")
    print("learned versions:")
    if not listed:
        print("no learned model versions yet")
    for v in listed:
        mark = "*" if v.active else " "
        state = "promoted by guard" if v.eligible else "not promoted"
        line = f"{mark} {v.version:<6} {v.created_utc}  parent={v.parent}  {state}  {v.reason}"
        print(line + (f"  FILE MISSING: {v.path}" if v.file_missing else ""))
    print(f"active model: {active}" if active else f"active model: NONE USABLE: {problem}")
    return 0
