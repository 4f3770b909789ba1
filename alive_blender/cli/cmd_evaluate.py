"""``evaluate WORKDIR ROLLOUT.npy``: judge a rollout against the observed shot."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics of a rollout (realism, coverage, diversity, smoothness, ...)",
                       description="Score ROLLOUT.npy against WORKDIR's observed embeddings; prints JSON.")
    p.add_argument("workdir", help="work directory with embed/embeddings.npy")
    p.add_argument("rollout", help="K x (N+1) x D embeddings written by the rollout command")
    p.set_defaults(func=execute)


def execute(args, reporter) -> dict:
    from ..core.run import stages
    result = stages.evaluate(Path(args.workdir).expanduser().absolute(), Path(args.rollout).expanduser())
    if not getattr(args, "json", False):  # the metrics are the point of the command: print them anyway
        print(json.dumps(result, indent=2), file=sys.stdout)
    return result
