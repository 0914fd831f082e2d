"""``spinalsam-r1 info``: device status and model verification."""

from __future__ import annotations

import argparse
import json

from .common import add_model_args, finite_or_none


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="device status and model verification",
        description="Print CUDA/CPU status and check a model's weights and adapter.",
    )
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--keys", action="store_true", help="list every missing/unexpected key")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..model import device_status, load_model, verify

    status = device_status()
    try:
        model = load_model(args.model, args.checkpoint, args.adapter, args.device)
    except UserError as exc:
        if args.adapter is None:
            raise
        return _refused_adapter(args, status, exc)
    report = verify(model)
    if args.json:
        print(json.dumps(finite_or_none({"device": status, "model": report}), indent=2))
        return 0 if _ok(report) else 1
    print("device:")
    for k, v in status.items():
        print(f"  {k}: {v}")
    print(f"model: {report['model']} ({report['backbone']})")
    print(
        f"  parameters: {report['total_parameters']:,} total, {report['adapter_parameters']:,} in the adapter"
    )
    for part in ("checkpoint", "adapter"):
        if part in report:
            r = report[part]
            print(f"  {part}: {r['path']}")
            print(f"    ok: {r['ok']}" + (f", matched keys: {r['matched']}" if "matched" in r else ""))
            made = {k: r[k] for k in ("recipe", "code_version", "base_digest") if r.get(k)}
            if made:
                print("    made by: " + ", ".join(f"{k} {v}" for k, v in made.items()))
            for key in ("missing", "unexpected", "shape_mismatch"):
                if r.get(key):
                    shown = r[key] if args.keys else r[key][:5]
                    print(f"    {key} ({len(r[key])}): {', '.join(shown)}")
    return 0 if _ok(report) else 1


def _ok(report: dict) -> bool:
    return all(report[p]["ok"] for p in ("checkpoint", "adapter") if p in report)


def _refused_adapter(args: argparse.Namespace, status: dict, exc: Exception) -> int:
    """An adapter that does not load is reported as not ok (exit 1), with the reason on one line."""
    reason = " ".join(str(exc).split())
    if args.json:
        adapter = {"path": str(args.adapter), "ok": False, "error": reason}
        print(json.dumps(finite_or_none({"device": status, "model": {"adapter": adapter}}), indent=2))
        return 1
    print(f"adapter: {args.adapter}")
    print("  ok: False")
    print(f"  error: {reason}")
    return 1
