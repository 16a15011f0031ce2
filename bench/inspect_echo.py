"""Inspect's side of `cargo xtask bench`: N single-turn exact-match samples
answered by Inspect's mockllm/model, with a callable that echoes each
prompt, so that every sample scores as Airlock's bench-echo task does with
the echo agent.

  python inspect_echo.py run LOG_DIR N     the measured eval
  python inspect_echo.py check LOG_DIR N   reads the log back; prints JSON

`run` is kept to the eval alone so that the measured process holds no
bench bookkeeping; `check` fails unless the log's status is "success" and
every sample scored, because Inspect exits 0 even when an eval fails.
"""

import json
import os
import random
import sys


def samples(n):
    from inspect_ai.dataset import Sample

    # Same shape as bench-echo's prompts: 32 hex digits from a seeded generator.
    rng = random.Random(0)
    out = []
    for i in range(n):
        text = rng.randbytes(16).hex()
        out.append(Sample(id=i, input=text, target=text))
    return out


def echo(input, tools, tool_choice, config):
    from inspect_ai.model import ModelOutput, ModelUsage

    text = input[-1].text
    output = ModelOutput.from_content(model="mockllm/model", content=text)
    # With usage set, mockllm does not count tokens itself, which would
    # fetch a tokenizer from the network.
    output.usage = ModelUsage(input_tokens=16, output_tokens=16, total_tokens=32)
    return output


def run(log_dir, n):
    from inspect_ai import Task, eval
    from inspect_ai.dataset import MemoryDataset
    from inspect_ai.model import get_model
    from inspect_ai.scorer import exact
    from inspect_ai.solver import generate

    task = Task(
        name="bench_echo",
        dataset=MemoryDataset(samples(n)),
        solver=generate(),
        scorer=exact(),
    )
    model = get_model("mockllm/model", custom_outputs=echo)
    eval(task, model=model, log_dir=log_dir, display="none")


def check(log_dir, n):
    from inspect_ai.log import list_eval_logs, read_eval_log

    logs = list_eval_logs(log_dir)
    if len(logs) != 1:
        raise SystemExit(f"expected one log in {log_dir}, found {len(logs)}")
    path = logs[0].name
    if path.startswith("file://"):
        path = path[len("file://"):]
    log = read_eval_log(path)
    scored = 0
    correct = 0
    for sample in log.samples or []:
        for score in (sample.scores or {}).values():
            scored += 1
            if score.value == "C":
                correct += 1
    result = {
        "status": log.status,
        "error": str(log.error) if log.error else None,
        "samples": len(log.samples or []),
        "scored": scored,
        "correct": correct,
        "log_bytes": os.path.getsize(path),
        "log_format": os.path.splitext(path)[1].lstrip("."),
        "inspect_version": log.eval.packages.get("inspect_ai"),
        "started_at": log.stats.started_at,
        "completed_at": log.stats.completed_at,
    }
    print(json.dumps(result))
    if log.status != "success" or scored != n or correct != n:
        raise SystemExit(f"Inspect's eval did not succeed: {json.dumps(result)}")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("run", "check"):
        raise SystemExit(__doc__)
    {"run": run, "check": check}[sys.argv[1]](sys.argv[2], int(sys.argv[3]))
