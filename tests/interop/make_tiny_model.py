#!/usr/bin/env python3
"""Builds the tiny model that `cargo xtask interop` serves with `transformers serve`.

A LlamaForCausalLM (hidden size 64, 2 layers) and a byte-level BPE tokenizer
trained here with `tokenizers`, saved with `save_pretrained`, so the server
loads it from a local directory with HF_HUB_OFFLINE=1 and downloads nothing.

A randomly initialised model never writes a tool call, and `transformers
serve` only turns generated text into `message.tool_calls` when it can parse
it, so the model is trained for a minute on CPU, on conversations rendered
with its own chat template, to answer like a tool-calling model:

- a request that offers tools and holds no tool result yet gets
  `<tool_call>{"name": "bash", "arguments": {"command": "ls"}}</tool_call>`;
- a request that offers tools and holds a tool result gets
  `<tool_call>{"name": "submit", "arguments": {"answer": "flag"}}</tool_call>`;
- a request without tools gets the plain text `ls`.

How the server parses it (transformers 5.x, `transformers/cli/serving`):
`ChatCompletionHandler._non_streaming` calls `utils.parse_assistant_message`,
which asks `utils.get_response_template` for the tokenizer's
`response_template` (saved in tokenizer_config.json; without one, only the
model types listed in `_RESPONSE_TEMPLATE_FALLBACKS` — Qwen 2/3, Qwen 3.5,
Gemma 4 — are parsed, and a Llama's text is passed through unparsed) and
runs `tokenizer.parse_response` with it. The template given here is the one
that file uses for Qwen 2 and 3, so the chat template is Qwen 2.5's: tools
listed in the system message between `<tools>` tags, calls written as
`<tool_call>` JSON, results sent back as `<tool_response>` in a user turn.

Deterministic: fixed seeds, one thread, deterministic torch algorithms; the
same script, corpus and package versions give the same files. The output
directory holds a stamp of those inputs, and a second run with the same
inputs reuses the model. Prints one JSON object: the figures of the build
(kept beside the model) and whether this run reused it.
"""

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time

SEED = 1616
VOCAB_SIZE = 8192
MAX_TRAIN_TOKENS = 4096
GROUPS = 3
LEARNING_RATE = 2e-3
WARMUP_STEPS = 30
MAX_STEPS = 3000
CHECK_EVERY = 50
HELD_OUT = 96
# Checks in a row that must all pass before training stops.
PASSES_IN_A_ROW = 3

TOOL_CALL = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call>'
SUBMIT_CALL = '<tool_call>\n{"name": "submit", "arguments": {"answer": "flag"}}\n</tool_call>'
TEXT_REPLY = "ls"
KINDS = {TOOL_CALL: "bash", SUBMIT_CALL: "submit", TEXT_REPLY: "text"}

# Qwen 2.5's chat template (Apache-2.0), as its tokenizer_config.json ships it.
CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# transformers' own response template for Qwen 2 and 3
# (`_RESPONSE_TEMPLATE_FALLBACKS` in transformers/cli/serving/utils.py),
# which a Llama does not get by default: its model type is not listed there.
RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close": "</think>", "content": "text"},
        "tool_calls": {
            "open_pattern": r"\s*<tool_call>",
            "close": "</tool_call>",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {
            "close_pattern": r"\s*(?:<\|im_end\|>|<\|endoftext\|>)",
            "content": "text",
        },
    },
}

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Plain added tokens, as in Qwen's tokenizer: kept in decoded text.
TAG_TOKENS = [
    "<tool_call>",
    "</tool_call>",
    "<tools>",
    "</tools>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]

TOOL_NAMES = ["bash", "python", "submit", "shell", "run_command", "check_flag", "give_up", "read_file"]
ARGUMENT_NAMES = ["command", "code", "answer", "flag", "path", "query", "input"]


def inputs_key(script, corpus_paths, versions):
    digest = hashlib.sha256()
    with open(script, "rb") as f:
        digest.update(f.read())
    for path in corpus_paths:
        with open(path, "rb") as f:
            data = f.read()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


class Corpus:
    """The corpus as lines, so that excerpts keep their line breaks and
    indentation, as task prompts (code, listings, banners) do."""

    def __init__(self, paths):
        self.lines = []
        for path in paths:
            with open(path, encoding="utf-8") as f:
                self.lines.extend(line.rstrip() for line in f)
        self.words = [word for line in self.lines for word in line.split()]
        if len(self.words) < 1000:
            sys.exit("make_tiny_model: the corpus is too small (fewer than 1000 words)")


def excerpt(rng, corpus, low, high):
    """A run of corpus text, its length in words drawn log-uniformly in
    [low, high]: a few words from one line, or whole lines from a random one on."""
    count = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    if count < 8:
        start = rng.randrange(0, max(1, len(corpus.words) - count))
        return " ".join(corpus.words[start : start + count])
    start = rng.randrange(0, len(corpus.lines))
    taken = []
    words = 0
    while words < count:
        line = corpus.lines[(start + len(taken)) % len(corpus.lines)]
        taken.append(line)
        words += len(line.split())
    return "\n".join(taken)


def tool_spec(rng, words, name):
    argument = rng.choice(ARGUMENT_NAMES)
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": excerpt(rng, words, 3, 30),
            "parameters": {
                "type": "object",
                "properties": {argument: {"type": "string", "description": excerpt(rng, words, 2, 12)}},
                "required": [argument],
                "additionalProperties": False,
            },
        },
    }


def tool_call(rng, name, arguments, index):
    return {
        "id": f"call_{rng.randrange(10**8)}_{index}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def conversations(rng, words):
    """Three conversations that differ only where the taught reply does:
    [(messages, tools, target)]. The same messages without tools get text,
    with tools a bash call, and with tool results in them a submit call.
    Taught side by side, the model learns what tells them apart (whether
    a `<tools>` and a `<tool_response>` token occur at all) rather than
    anything about the filler text around it."""
    names = rng.sample(TOOL_NAMES, rng.randint(1, 4))
    if rng.random() < 0.7:
        for must in ("submit", "bash"):
            if must not in names:
                names.insert(rng.randrange(len(names) + 1), must)
    tools = [tool_spec(rng, words, name) for name in names]
    head = []
    if rng.random() < 0.8:
        head.append({"role": "system", "content": excerpt(rng, words, 5, 300)})
    # Replies in text, as a model that ignores the tools gives them.
    for _ in range(rng.randint(0, 2)):
        head.append({"role": "user", "content": excerpt(rng, words, 3, 150)})
        head.append({"role": "assistant", "content": rng.choice([TEXT_REPLY, excerpt(rng, words, 1, 40)])})
    # Half of the last messages as long as a task's first prompt (its
    # instructions, a wordlist, a host's banner), half of any length.
    if rng.random() < 0.5:
        last = {"role": "user", "content": excerpt(rng, words, 300, 1500)}
    else:
        last = {"role": "user", "content": excerpt(rng, words, 3, 1500)}
    answered = list(head)
    for _ in range(rng.randint(1, 3)):
        answered.append({"role": "user", "content": excerpt(rng, words, 3, 150)})
        calls = [tool_call(rng, "bash", {"command": excerpt(rng, words, 1, 4)}, i) for i in range(rng.randint(1, 2))]
        answered.append({"role": "assistant", "content": "", "tool_calls": calls})
        for call in calls:
            answered.append({"role": "tool", "tool_call_id": call["id"], "content": excerpt(rng, words, 1, 100)})
    if rng.random() < 0.5:
        answered.append(last)
    return [
        (head + [last], None, TEXT_REPLY),
        (head + [last], tools, TOOL_CALL),
        (answered, tools, SUBMIT_CALL),
    ]


def encode(tokenizer, messages, tools, target):
    prompt = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(target + "<|im_end|>", add_special_tokens=False)["input_ids"]
    return prompt_ids, target_ids


def build(out, corpus_paths, steps_limit):
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rng = random.Random(SEED)
    words = Corpus(corpus_paths)

    started = time.monotonic()
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The tool-call lines are in the corpus so that their JSON gets merges of its own.
    lines = list(words.lines)
    lines += [TOOL_CALL, SUBMIT_CALL, json.dumps(RESPONSE_TEMPLATE)] * 20
    bpe.train_from_iterator(lines, trainer)
    bpe.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in TAG_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
    )
    tokenizer.response_template = RESPONSE_TEMPLATE
    tokenizer_seconds = time.monotonic() - started

    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=32768,
        # Slow rotations (Llama 3 and Qwen 2 use 5e5 and 1e6): the decision
        # rests on a token thousands of positions back, and only the
        # dimensions that barely rotate over that distance can find it.
        rope_theta=1000000.0,
        bos_token_id=None,
        eos_token_id=eos,
        pad_token_id=pad,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=eos, pad_token_id=pad, do_sample=False, max_new_tokens=64
    )

    def group():
        while True:
            rows = []
            for messages, tools, target in conversations(rng, words):
                prompt_ids, target_ids = encode(tokenizer, messages, tools, target)
                rows.append((prompt_ids, target_ids, target))
            if all(len(p) + len(t) <= MAX_TRAIN_TOKENS for p, t, _ in rows):
                return rows

    held_out = [row for _ in range(HELD_OUT // 3) for row in group()]

    def passes():
        """How many held-out conversations greedy decoding answers exactly as
        taught: with the target fed in, the most likely next token is the
        target's at every position (the last one is the end of turn, where
        generation stops), which is what greedy generation would produce."""
        model.eval()
        good = 0
        missed = {}
        with torch.no_grad():
            for prompt_ids, target_ids, target in held_out:
                ids = torch.tensor([prompt_ids + target_ids])
                logits = model(input_ids=ids, logits_to_keep=len(target_ids) + 1).logits[0, :-1]
                if logits.argmax(dim=-1).tolist() == target_ids:
                    good += 1
                else:
                    missed[KINDS[target]] = missed.get(KINDS[target], 0) + 1
        model.train()
        return good, missed

    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    # Warm up, then decay as a cosine to a tenth over the step limit.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / WARMUP_STEPS)
        * (0.55 + 0.45 * math.cos(math.pi * min(step, steps_limit) / steps_limit)),
    )
    train_started = time.monotonic()
    model.train()
    steps = 0
    loss_value = float("nan")
    held_out_passed = 0
    in_a_row = 0
    while steps < steps_limit:
        # One unpadded sequence at a time, gradients summed over the groups:
        # without a padding mask attention takes its fused causal path, and
        # no time is spent on padding.
        optimizer.zero_grad()
        total = 0.0
        rows = [row for _ in range(GROUPS) for row in group()]
        for prompt_ids, target_ids, _ in rows:
            ids = torch.tensor([prompt_ids + target_ids])
            # Logits only where the loss is: the prompt's are never used.
            logits = model(input_ids=ids, logits_to_keep=len(target_ids) + 1).logits[0, :-1]
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(target_ids)) / len(rows)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        steps += 1
        loss_value = total
        if steps % CHECK_EVERY == 0:
            held_out_passed, missed = passes()
            print(
                f"make_tiny_model: step {steps}: loss {loss_value:.4f}, held-out {held_out_passed}/{HELD_OUT}"
                f" (missed: {missed or 'none'})",
                file=sys.stderr,
                flush=True,
            )
            in_a_row = in_a_row + 1 if held_out_passed == HELD_OUT else 0
            if in_a_row == PASSES_IN_A_ROW:
                break
    train_seconds = time.monotonic() - train_started
    if in_a_row != PASSES_IN_A_ROW:
        sys.exit(
            f"make_tiny_model: after {steps} steps the model answers {held_out_passed} of {HELD_OUT} "
            f"held-out conversations as taught ({PASSES_IN_A_ROW} checks in a row must answer all); "
            "it would not call tools reliably"
        )

    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    return tmp, {
        "tokenizer_seconds": round(tokenizer_seconds, 2),
        "train_seconds": round(train_seconds, 2),
        "steps": steps,
        "final_loss": round(loss_value, 6),
        "held_out_passed": held_out_passed,
        "held_out": HELD_OUT,
        "vocab_size": len(tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write the model and tokenizer to")
    parser.add_argument("--corpus", nargs="+", required=True, help="text files the tokenizer and the filler text come from")
    parser.add_argument("--max-steps", type=int, default=MAX_STEPS)
    args = parser.parse_args()

    import tokenizers
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}
    key = inputs_key(os.path.abspath(__file__), args.corpus, versions)
    stamp = os.path.join(args.out, "airlock-interop-stamp")
    built = os.path.join(args.out, "airlock-interop-figures.json")
    if os.path.isfile(stamp) and os.path.isfile(built):
        with open(stamp, encoding="utf-8") as f:
            if f.read().strip() == key:
                with open(built, encoding="utf-8") as g:
                    figures = json.load(g)
                figures["reused"] = True
                print(json.dumps(figures))
                return
    started = time.monotonic()
    tmp, figures = build(args.out, args.corpus, args.max_steps)
    with open(os.path.join(tmp, "airlock-interop-stamp"), "w", encoding="utf-8") as f:
        f.write(key + "\n")
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.rename(tmp, args.out)
    weights = os.path.join(args.out, "model.safetensors")
    with open(weights, "rb") as f:
        weights_sha256 = hashlib.sha256(f.read()).hexdigest()
    figures.update(
        {
            "key": key,
            "seconds": round(time.monotonic() - started, 2),
            "weights_sha256": weights_sha256,
            "versions": versions,
        }
    )
    # Kept beside the model, so that a run that reuses it still reports how it was made.
    with open(built, "w", encoding="utf-8") as f:
        json.dump(figures, f)
    figures["reused"] = False
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
