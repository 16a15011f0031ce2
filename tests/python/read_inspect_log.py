"""Loads an Inspect eval log written by `airlock export --inspect` with
inspect_ai's own reader and prints what it read as one JSON object.

Usage: read_inspect_log.py LOG

Any warning (Python's warnings or a logging record at WARNING or above)
is an error: the log must read cleanly, not merely read. Exits 0 and
prints {"inspect_version", "status", "task", "model", "epochs",
"samples": [...], "metrics": {...}, "metadata": {...}, "seconds"}.
"""

import json
import logging
import sys
import time
import warnings


class Fail(logging.Handler):
    """Collects every record at WARNING or above."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


def main():
    warnings.simplefilter("error")
    handler = Fail()
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)
    began = time.monotonic()
    import inspect_ai
    from inspect_ai.log import read_eval_log

    log = read_eval_log(sys.argv[1])
    seconds = time.monotonic() - began
    if handler.records:
        print("warnings while reading: " + "; ".join(handler.records), file=sys.stderr)
        sys.exit(1)
    samples = []
    for s in log.samples or []:
        samples.append(
            {
                "id": s.id,
                "epoch": s.epoch,
                "input": s.input if isinstance(s.input, str) else None,
                "scores": {k: v.value for k, v in (s.scores or {}).items()},
                "answer": {k: v.answer for k, v in (s.scores or {}).items()},
                "metadata": s.metadata,
                "roles": [m.role for m in s.messages],
                "texts": [m.text for m in s.messages],
            }
        )
    metrics = {}
    if log.results is not None:
        for score in log.results.scores:
            for name, metric in score.metrics.items():
                metrics[f"{score.name}/{name}"] = metric.value
    print(
        json.dumps(
            {
                "inspect_version": inspect_ai.__version__,
                "status": log.status,
                "task": log.eval.task,
                "model": log.eval.model,
                "epochs": log.eval.config.epochs,
                "total_samples": log.results.total_samples if log.results else None,
                "samples": samples,
                "metrics": metrics,
                "metadata": log.metadata,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
