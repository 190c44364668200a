#!/usr/bin/env python3
"""The lm-evaluation-harness side of the llmpi parity check (run it through harness_parity.sh).

  run      lm-eval's HFLM (transformers, fp32, CPU, batch size 1) through lm_eval.simple_evaluate
           with log_samples=True on local copies of llmpi's tasks, written as lm-eval task YAMLs
           into a temporary directory (no hub access: `dataset_path: json` + data_files):
             gsm8k              jobs/tasks/data/gsm8k/test.jsonl: the 4 shots are records 1-4 (a
                                "train" data file, sampler first_n), the scored docs records
                                5..4+N (--gsm8k N, default 50); prompt, target, stop strings,
                                filters and metric exactly as lm-eval's shipped gsm8k.yaml
             everyday-science   jobs/tasks/data/everyday-science.jsonl, multiple_choice, 0-shot,
                                "Question: {{question}}\\nAnswer:", choices, target_delimiter " ",
                                acc, acc_norm (and acc_bytes)
             perplexity-sample  jobs/tasks/data/perplexity-sample.jsonl, loglikelihood_rolling,
                                word_perplexity, byte_perplexity, bits_per_byte; run again with
                                max_length --window-max-length (default 128) as
                                perplexity-sample-w<L> so that the rolling windows are exercised
           and writes OUT/<task>.json (default harness-out/): per document the full context
           string, the continuations, per-choice log-likelihoods at full precision, the chosen
           answers, the generated text (the harness's answer, and the raw decode before its stop
           strings), the filtered answers, the rolling log-likelihood with its windows, the word
           and byte counts; and the task metrics with their stderr as the harness reports them.

  compare  reads an llmpi results file (HDF5, schema version 4, docs/results.md) and the harness
           JSON files (needs only h5py and numpy), matches llmpi rows to harness documents by id
           ("<task>/<record id>" or "<task>/line-N", N the 1-based line in the task's JSONL
           file; harness gsm8k is llmpi's gsm8k-harness, the others have the same names, see
           --task-map) and checks, per document:
             multiple choice  each choice's log-likelihood within --tol, its normalised one,
                              `chosen` = the acc pick, the normalised pick in `detail` = the
                              acc_norm pick, `score` = acc, `score_normalised` = acc_norm
             gsm8k            generated text identical, `score` = strict-match exact_match,
                              `score_normalised` = flexible-extract, the answers in `detail` =
                              the harness's filtered answers and its normalised reference
             rolling          `loglikelihood` within --tol or --rtol (default 1e-5 relative:
                              the harness's log_softmax is float32), `words` and `bytes`
                              equal, the number of windows
           and for all of them the prompt's (document's) token count
           and, per task, llmpi's /summary/tasks against the harness's metrics: mean_score ±
           score_stderr and mean_score_normalised ± score_normalised_stderr against acc/acc_norm
           or the two gsm8k filters (means within 1e-12, stderr within 1e-9), word_perplexity,
           byte_perplexity and bits_per_byte within 1e-6 relative. When llmpi's file holds only
           k of a task's n harness documents (a reduced run, --limit), those rows are compared
           and its summary against the harness's per-document values of the same k documents,
           aggregated here as lm-eval does, instead of the harness's task metrics
           (--require-all: missing documents are mismatches). Prints every mismatch and a
           summary table, and exits 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "models" / "SmolLM2-135M-Instruct"
GSM8K_DATA = REPO / "jobs" / "tasks" / "data" / "gsm8k" / "test.jsonl"
SCIENCE_DATA = REPO / "jobs" / "tasks" / "data" / "everyday-science.jsonl"
PERPLEXITY_DATA = REPO / "jobs" / "tasks" / "data" / "perplexity-sample.jsonl"
GSM8K_SHOTS = 4
ALL_TASKS = ("everyday-science", "perplexity-sample", "gsm8k")


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------

def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line for line in f.read().split("\n") if line.strip()]


def llmpi_ids(task: str, record: dict, line: int) -> list[str]:
    """The ids llmpi may give this record: its own id / task_id, else line-N (evaluator.cpp)."""
    ids = []
    for key in ("id", "task_id"):
        if key in record:
            value = record[key]
            ids.append(f"{task}/{value if isinstance(value, str) else json.dumps(value)}")
            break
    ids.append(f"{task}/line-{line}")
    return ids


def write_task_configs(tmp: Path, gsm8k_n: int) -> dict:
    """Writes the task YAMLs and data files into tmp; returns what each task reads."""
    import yaml
    import lm_eval

    tasks_dir = tmp / "tasks"
    data_dir = tmp / "data"
    tasks_dir.mkdir()
    data_dir.mkdir()
    info = {}

    # GSM8K: lm-eval's shipped config, pointed at local files.
    shipped_path = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    with open(shipped_path, encoding="utf-8") as f:
        shipped = yaml.safe_load(f)
    lines = read_lines(GSM8K_DATA)
    shots = lines[:GSM8K_SHOTS]
    docs = lines[GSM8K_SHOTS:GSM8K_SHOTS + gsm8k_n]
    (data_dir / "gsm8k-train.jsonl").write_text("\n".join(shots) + "\n", encoding="utf-8")
    (data_dir / "gsm8k-test.jsonl").write_text("\n".join(docs) + "\n", encoding="utf-8")
    gsm8k = dict(shipped)
    gsm8k.pop("tag", None)
    gsm8k.update({
        "task": "gsm8k",
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"train": str(data_dir / "gsm8k-train.jsonl"),
                                          "test": str(data_dir / "gsm8k-test.jsonl")}},
        "training_split": "train",
        "fewshot_split": "train",
        "test_split": "test",
        "num_fewshot": GSM8K_SHOTS,
        "fewshot_config": {"sampler": "first_n"},
    })
    info["gsm8k"] = {"source": str(GSM8K_DATA), "shipped_config": str(shipped_path),
                     "first_line": GSM8K_SHOTS + 1, "shot_lines": list(range(1, GSM8K_SHOTS + 1)),
                     "records": [json.loads(x) for x in docs]}

    science = {
        "task": "everyday-science",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(SCIENCE_DATA)}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
        "target_delimiter": " ",
        "num_fewshot": 0,
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True}
                        for m in ("acc", "acc_norm", "acc_bytes")],
        "metadata": {"version": 1.0},
    }
    info["everyday-science"] = {"source": str(SCIENCE_DATA), "first_line": 1,
                                "records": [json.loads(x) for x in read_lines(SCIENCE_DATA)]}

    perplexity = {
        "task": "perplexity-sample",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(PERPLEXITY_DATA)}},
        "test_split": "test",
        "output_type": "loglikelihood_rolling",
        "doc_to_text": "",
        "doc_to_target": "text",
        "num_fewshot": 0,
        "metric_list": [{"metric": m, "aggregation": a, "higher_is_better": False}
                        for m, a in (("word_perplexity", "weighted_perplexity"),
                                     ("byte_perplexity", "weighted_perplexity"),
                                     ("bits_per_byte", "bits_per_byte"))],
        "metadata": {"version": 1.0},
    }
    info["perplexity-sample"] = {"source": str(PERPLEXITY_DATA), "first_line": 1,
                                 "records": [json.loads(x) for x in read_lines(PERPLEXITY_DATA)]}

    for name, config in (("gsm8k", gsm8k), ("everyday-science", science),
                         ("perplexity-sample", perplexity)):
        with open(tasks_dir / f"{name}.yaml", "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f, sort_keys=False, allow_unicode=True)
        info[name]["task_config"] = config
    info["tasks_dir"] = str(tasks_dir)
    return info


class Recorder:
    """Wraps an HFLM instance to keep what simple_evaluate's samples leave out: the generated
    tokens and the decode before the stop strings cut it, and the rolling windows."""

    def __init__(self, lm):
        import lm_eval.models.huggingface as hf

        self.lm = lm
        self.generations: dict[str, dict] = {}  # context string -> what generate produced
        self.windows: list[dict] = []
        self._context: str | None = None
        self._rolling = False

        tok_batch_encode = lm.tok_batch_encode
        model_generate = lm._model_generate
        loglikelihood_tokens = lm._loglikelihood_tokens
        postprocess = hf.postprocess_generated_text

        def wrapped_tok_batch_encode(strings, *args, **kwargs):
            ids, mask = tok_batch_encode(strings, *args, **kwargs)
            assert len(strings) == 1, "the recorder needs batch_size 1"
            self._context = strings[0]
            self.generations[strings[0]] = {"prompt_token_ids": ids[0].tolist()}
            return ids, mask

        def wrapped_model_generate(context, max_length, stop, **kwargs):
            out = model_generate(context, max_length, stop, **kwargs)
            entry = self.generations[self._context]
            entry["generated_token_ids"] = out[0, context.shape[1]:].tolist()
            entry["generate_kwargs"] = {"max_length": max_length, "stop": list(stop),
                                        **{k: v for k, v in kwargs.items()
                                           if k != "attention_mask"}}
            return out

        def wrapped_postprocess(generation, stop, think_end_token):
            cut = postprocess(generation, stop, think_end_token)
            if self._context is not None:
                entry = self.generations[self._context]
                entry["decoded"] = generation
                entry["cut"] = cut
            return cut

        def wrapped_loglikelihood_tokens(requests, *args, **kwargs):
            res = loglikelihood_tokens(requests, *args, **kwargs)
            if self._rolling:
                for (_, context_enc, continuation_enc), (ll, greedy) in zip(requests, res):
                    self.windows.append({"context_tokens": len(context_enc),
                                         "predicted_tokens": len(continuation_enc),
                                         "loglikelihood": ll, "is_greedy": greedy})
            return res

        lm.tok_batch_encode = wrapped_tok_batch_encode
        lm._model_generate = wrapped_model_generate
        lm._loglikelihood_tokens = wrapped_loglikelihood_tokens
        hf.postprocess_generated_text = wrapped_postprocess

        rolling = lm.loglikelihood_rolling

        def wrapped_rolling(requests, *args, **kwargs):
            self._rolling = True
            self.windows = []
            try:
                return rolling(requests, *args, **kwargs)
            finally:
                self._rolling = False

        lm.loglikelihood_rolling = wrapped_rolling


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": sys.version.split()[0]}
    for name in ("lm_eval", "torch", "transformers", "datasets", "accelerate", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def jsonable(x):
    import numpy as np
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def samples_by_doc(samples: list[dict]) -> dict[int, dict[str, dict]]:
    by_doc: dict[int, dict[str, dict]] = {}
    for s in samples:
        by_doc.setdefault(s["doc_id"], {})[s["filter"]] = s
    return by_doc


def details_multiple_choice(task, info, samples, lm) -> list[dict]:
    import numpy as np

    docs = []
    for doc_id, per_filter in sorted(samples_by_doc(samples).items()):
        s = per_filter["none"]
        doc = s["doc"]
        line = info["first_line"] + doc_id
        contexts = [a[0] for a in s["arguments"]]
        continuations = [a[1] for a in s["arguments"]]
        lls = [float(r[0][0]) for r in s["resps"]]
        greedy = [bool(r[0][1]) for r in s["resps"]]
        choices = list(doc["choices"])
        chars = np.array([float(len(c)) for c in choices])
        nbytes = np.array([float(len(c.encode("utf-8"))) for c in choices])
        cont_bytes = np.array([float(len(c.encode("utf-8"))) for c in continuations])
        arr = np.array(lls)
        encoded = [lm._encode_pair(c, k) for c, k in zip(contexts, continuations)]
        docs.append({
            "doc_index": doc_id,
            "line": line,
            "record_id": doc.get("id"),
            "llmpi_ids": llmpi_ids(task, doc, line),
            "context": contexts[0],
            "contexts_identical": all(c == contexts[0] for c in contexts),
            "continuations": continuations,
            "choices": choices,
            "label": s["target"],
            "loglikelihoods": lls,
            "is_greedy": greedy,
            "context_token_count": [len(e[0]) for e in encoded],
            "continuation_token_ids": [e[1] for e in encoded],
            # lm-eval: acc = argmax(ll); acc_norm = argmax(ll / len(choice)) in characters of the
            # choice WITHOUT the target delimiter; acc_bytes = argmax(ll / UTF-8 bytes of choice).
            "chosen_acc": int(np.argmax(arr)),
            "chosen_acc_norm": int(np.argmax(arr / chars)),
            "chosen_acc_bytes": int(np.argmax(arr / nbytes)),
            # What llmpi's docs describe (per byte of the continuation, delimiter included).
            "chosen_per_continuation_byte": int(np.argmax(arr / cont_bytes)),
            "loglikelihood_per_char": (arr / chars).tolist(),
            "loglikelihood_per_byte": (arr / nbytes).tolist(),
            "loglikelihood_per_continuation_byte": (arr / cont_bytes).tolist(),
            "acc": s.get("acc"),
            "acc_norm": s.get("acc_norm"),
            "acc_bytes": s.get("acc_bytes"),
        })
    return docs


def details_generate(task, info, samples, recorder) -> list[dict]:
    docs = []
    for doc_id, per_filter in sorted(samples_by_doc(samples).items()):
        first = next(iter(per_filter.values()))
        doc = first["doc"]
        line = info["first_line"] + doc_id
        context = first["arguments"][0][0]
        gen_kwargs = first["arguments"][0][1]
        text = first["resps"][0][0]
        rec = recorder.generations.get(context, {})
        target = first["target"]
        docs.append({
            "doc_index": doc_id,
            "line": line,
            "record_id": doc.get("id"),
            "llmpi_ids": llmpi_ids(task, doc, line),
            "context": context,
            "generation_kwargs": gen_kwargs,
            "target": target,
            "reference_answer": target.split("####")[-1].strip(),
            # The harness's answer: the decode (skip_special_tokens=True) cut at the first stop
            # string; this is what its filters and metric see.
            "generated_text": text,
            # The whole decode of what generate() produced, before the stop strings cut it.
            "generated_text_raw": rec.get("decoded"),
            "generated_token_ids": rec.get("generated_token_ids"),
            "prompt_token_count": len(rec.get("prompt_token_ids", [])),
            "filtered": {k: v["filtered_resps"][0] for k, v in per_filter.items()},
            "exact_match": {k: v.get("exact_match") for k, v in per_filter.items()},
        })
    return docs


def details_rolling(task, info, samples, recorder, lm) -> list[dict]:
    from lm_eval import utils

    docs = []
    windows = list(recorder.windows)
    at = 0
    for doc_id, per_filter in sorted(samples_by_doc(samples).items()):
        s = per_filter["none"]
        doc = s["doc"]
        line = info["first_line"] + doc_id
        text = s["arguments"][0][0]
        tokens = lm.tok_encode(text)
        n_windows = len(list(utils.get_rolling_token_windows(
            token_list=tokens, prefix_token=lm.prefix_token_id, max_seq_len=lm.max_length,
            context_len=1)))
        mine = windows[at:at + n_windows]
        at += n_windows
        ll = float(s["resps"][0][0])
        words = s["word_perplexity"][1]
        nbytes = s["byte_perplexity"][1]
        docs.append({
            "doc_index": doc_id,
            "line": line,
            "record_id": doc.get("id"),
            "llmpi_ids": llmpi_ids(task, doc, line),
            "text": text,
            "tokens": len(tokens),
            "prefix_token_id": lm.prefix_token_id,
            "max_length": lm.max_length,
            "loglikelihood": ll,
            "words": words,
            "bytes": nbytes,
            "windows": mine,
            "windows_sum": math.fsum(w["loglikelihood"] for w in mine),
        })
    return docs


def run(args) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    torch.set_num_threads(args.threads)

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    wanted = [t.strip() for t in args.tasks.split(",") if t.strip()]
    for t in wanted:
        if t not in ALL_TASKS:
            print(f"unknown task {t!r}; choose from {', '.join(ALL_TASKS)}", file=sys.stderr)
            return 2
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    # The checkpoint's own tokenizer.json, as the tokenizers library runs it. transformers 5.x's
    # AutoTokenizer builds SmolLM2's GPT2Tokenizer from its class definition instead and drops
    # tokenizer.json's Digits pre-tokenizer (huggingface/transformers#45812): "\n\n3" and
    # "  2" then split differently from the published tokenizer.
    from transformers import PreTrainedTokenizerFast
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(args.model))

    def make_lm(max_length):
        t0 = time.time()
        lm = HFLM(pretrained=str(args.model), tokenizer=tokenizer, dtype="float32", device="cpu",
                  batch_size=1, max_length=max_length)
        print(f"model loaded in {time.time() - t0:.1f} s (max_length {lm.max_length})",
              flush=True)
        return lm, Recorder(lm)

    with tempfile.TemporaryDirectory(prefix="llmpi-harness-") as tmp:
        info = write_task_configs(Path(tmp), args.gsm8k)
        task_manager = TaskManager(include_path=info["tasks_dir"], include_defaults=False)
        lm, recorder = make_lm(args.max_length)

        runs = [(t, t, lm, recorder) for t in wanted]
        if "perplexity-sample" in wanted and args.window_max_length > 0:
            runs.append((f"perplexity-sample-w{args.window_max_length}", "perplexity-sample",
                         None, None))
        for out_name, task, this_lm, this_recorder in runs:
            if this_lm is None:
                this_lm, this_recorder = make_lm(args.window_max_length)
            print(f"== {out_name}", flush=True)
            t0 = time.time()
            results = lm_eval.simple_evaluate(
                model=this_lm, tasks=[task], task_manager=task_manager, log_samples=True,
                batch_size=1, device="cpu")
            elapsed = time.time() - t0
            samples = results["samples"][task]
            kind = results["configs"][task]["output_type"]
            if kind == "multiple_choice":
                docs = details_multiple_choice(task, info[task], samples, this_lm)
            elif kind == "generate_until":
                docs = details_generate(task, info[task], samples, this_recorder)
            else:
                docs = details_rolling(task, info[task], samples, this_recorder, this_lm)
            record = {
                "tool": "lm-evaluation-harness",
                "versions": versions(),
                "model": str(args.model),
                "model_args": {"dtype": "float32", "device": "cpu", "batch_size": 1,
                               "max_length": this_lm.max_length,
                               "add_bos_token": this_lm.add_bos_token,
                               "prefix_token_id": this_lm.prefix_token_id,
                               "eot_token_id": this_lm.eot_token_id},
                "task": task,
                "name": out_name,
                "output_type": kind,
                "source": info[task]["source"],
                "first_line": info[task]["first_line"],
                "task_config_written": info[task]["task_config"],
                "task_config_effective": results["configs"][task],
                "n_shot": results["n-shot"].get(task),
                "n_samples": results.get("n-samples", {}).get(task),
                "metrics": results["results"][task],
                "runtime_s": elapsed,
                "docs": docs,
            }
            path = out_dir / f"{out_name}.json"
            with open(path, "w", encoding="utf-8") as f:
                json.dump(jsonable(record), f, indent=1, ensure_ascii=False)
            shown = {k: v for k, v in results["results"][task].items() if k != "alias"}
            print(f"{out_name}: {len(docs)} docs in {elapsed:.1f} s "
                  f"({elapsed / max(1, len(docs)):.2f} s/doc) -> {path}", flush=True)
            print(json.dumps(jsonable(shown), indent=1), flush=True)
    return 0


# --------------------------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------------------------
# Needs only the standard library, h5py and numpy (no torch, lm_eval or datasets), so that the
# CI's reduced check (scripts/harness_parity_check.sh) runs it from a small venv.

# llmpi's task for a harness task (JSON "name", the file stem) where the names differ.
DEFAULT_TASK_MAP = {"gsm8k": "gsm8k-harness"}
# Per-document log-likelihoods of loglikelihood_rolling tasks: the harness takes each token's
# log-probability from a float32 log_softmax over the vocabulary and sums them in float32
# (lm_eval/models/huggingface.py, _loglikelihood_tokens: F.log_softmax(logits, dim=-1), then
# gather(...).sum()). Against an fp64 forward pass of SmolLM2-135M its float32 log_softmax
# leaves about -8e-6 nats per token (the float32 sum only ~1e-5 per document): -5.2e-3 over a
# 604-token document, 3e-6 of its value, where llmpi is within 1.3e-4. An absolute tolerance
# does not scale with the document; 1e-5 of the value covers that bias with a margin.
DEFAULT_RTOL = {"loglikelihood_rolling": 1e-5}
# lm-eval's gsm8k exact_match: regexes_to_ignore, then ignore_case (gsm8k.yaml).
GSM8K_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]
MEAN_ABS_TOL = 1e-12    # task means of 0/1 scores
STDERR_ABS_TOL = 1e-9   # their standard errors
# Word/byte perplexity and bits per byte: 1e-6 relative, or what the per-document tolerance
# allows once carried through (a total log-likelihood off by D moves bits per byte by D of
# its value and a perplexity exp(-LL/N) by D/N of its value).
PERPLEXITY_RTOL = 1e-6


def mean_stderr(values):
    """lm-eval's mean and mean_stderr: sample standard deviation over sqrt(n) (None below 2)."""
    n = len(values)
    if n == 0:
        return float("nan"), None
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var) / math.sqrt(n)


def num(x):
    """A float, or None for what is not a finite number (NaN, "N/A", missing)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def fmt(x, digits=6):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}f}"


def pm(value, stderr):
    return fmt(value) + ("" if stderr is None else f" ± {fmt(stderr)}")


def first_difference(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return (f"first difference at character {i}: llmpi {a[i:i + 40]!r} vs harness "
            f"{b[i:i + 40]!r} (lengths {len(a)} / {len(b)})")


def read_llmpi(path: Path) -> tuple[list[dict], dict, int]:
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    import h5py
    import numpy as np

    def text(v):
        return v.decode("utf-8") if isinstance(v, bytes) else str(v)

    def plain(v):
        if isinstance(v, bytes):
            return text(v)
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        return v

    rows = []
    summary = {}
    with h5py.File(path, "r") as f:
        version = f.attrs.get("llmpi_results_schema_version")
        if version is None:
            raise SystemExit(f"{path}: not an llmpi results file (no llmpi_results_schema_version)")
        version = int(version)
        data = f["requests"][:]
        names = data.dtype.names
        for r in data:
            rows.append({name: plain(r[name]) for name in names})
        if "summary/tasks" in f:
            for t in f["summary/tasks"][:]:
                d = {n: plain(t[n]) for n in t.dtype.names}
                summary[d["task"]] = d
    return rows, summary, version


LINE_ID = re.compile(r"/line-(\d+)$")
MC_DETAIL = re.compile(r"^chose (-?\d+) \(normalised (-?\d+)\), label (-?\d+)$")
GSM8K_DETAIL = re.compile(r"^strict-match (.*), flexible-extract (.*), reference (.*)$", re.S)
ROLLING_DETAIL = re.compile(r"^(\d+) windows of at most (\d+) tokens")


def harness_gsm8k_reference(h: dict, target: str) -> str:
    """The reference as lm-eval's exact_match sees it (its regexes_to_ignore, ignore_case)."""
    ignore, ignore_case = GSM8K_IGNORE, True
    for m in (h.get("task_config_effective") or {}).get("metric_list") or []:
        if m.get("metric") == "exact_match":
            ignore = m.get("regexes_to_ignore", ignore)
            ignore_case = m.get("ignore_case", ignore_case)
    for pattern in ignore:
        target = re.sub(pattern, "", target)
    return target.lower() if ignore_case else target


def compare(args) -> int:
    rows, summary, version = read_llmpi(Path(args.results))
    harness_dir = Path(args.harness_dir)
    files = sorted(harness_dir.glob("*.json"))
    if args.only:
        keep = set(args.only.split(","))
        files = [p for p in files if p.stem in keep]
    if not files:
        print(f"no harness JSON files in {harness_dir}", file=sys.stderr)
        return 2
    if version < 4:
        print(f"{args.results}: results schema version {version}; compare needs version 4 "
              "(loglikelihood, words, bytes, the task perplexities)", file=sys.stderr)
        return 2
    task_map = dict(DEFAULT_TASK_MAP)
    task_map.update(dict(m.split("=", 1) for m in args.task_map))
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    print(f"llmpi results {args.results} (schema version {version}): "
          f"{len(rows)} rows, tasks {', '.join(sorted(by_task)) or 'none'}")
    print(f"harness outputs {harness_dir}: {', '.join(p.name for p in files)}")

    mismatches = 0
    table = []  # (task, metric, llmpi, harness, verdict)
    compared_tasks = set()

    for path in files:
        with open(path, encoding="utf-8") as f:
            h = json.load(f)
        name = h["name"]
        kind = h["output_type"]
        llmpi_task = task_map.get(name, name)
        compared_tasks.add(llmpi_task)
        rtol = args.rtol if args.rtol is not None else DEFAULT_RTOL.get(kind, 0.0)
        tol_text = f"{args.tol:g}" + (f" or {rtol:g} relative" if rtol else "")
        print()
        print(f"== {name} ({kind}, {len(h['docs'])} docs) against llmpi task {llmpi_task!r}")
        row_bad = 0

        def bad(msg):
            nonlocal row_bad
            row_bad += 1
            print("  MISMATCH " + msg)

        def close(a, b):
            return a is not None and b is not None and abs(a - b) <= max(args.tol, rtol * abs(b))

        task_rows = by_task.get(llmpi_task, [])
        by_id = {r["id"]: r for r in task_rows}
        by_line = {}
        for r in task_rows:
            m = LINE_ID.search(r["id"])
            if m:
                by_line[int(m.group(1))] = r
        matched, missing = [], []
        for d in h["docs"]:
            cands = [c.replace(h["task"] + "/", llmpi_task + "/", 1) for c in d["llmpi_ids"]]
            row = next((by_id[c] for c in cands if c in by_id), None) or by_line.get(d["line"])
            if row is None:
                missing.append((d, cands))
            else:
                matched.append((d, row))
        n, k = len(h["docs"]), len(matched)
        extra = len(task_rows) - len({id(r) for _, r in matched})
        print(f"  {k} of {n} harness docs have an llmpi row; {extra} llmpi rows of the task are "
              "not in the harness run")
        if not task_rows:
            bad(f"no llmpi rows for task {llmpi_task!r} (map with --task-map {name}=TASK)")
        elif args.require_all:
            for d, cands in missing:
                bad(f"line {d['line']}: no llmpi row (looked for {', '.join(cands)})")

        max_diff = None
        max_diff_same = None  # over the documents tokenised alike
        per_doc = {"score": [], "score_normalised": [], "ll": [], "words": [], "bytes": []}

        def track(a, b):
            nonlocal max_diff, max_diff_same
            if a is not None and b is not None:
                max_diff = max(max_diff or 0.0, abs(a - b))
                if same_tokens:
                    max_diff_same = max(max_diff_same or 0.0, abs(a - b))

        for d, row in matched:
            where = f"{row['id']}:"
            if row.get("status") != "ok":
                bad(f"{where} llmpi status {row.get('status')!r}: {row.get('error', '')}")
            detail = row.get("detail") or ""
            # The prompt's (the document's) token count: a different one means the two
            # tokenised the text differently, and its log-likelihoods cannot agree.
            h_tokens = {"multiple_choice": (d.get("context_token_count") or [None])[0],
                        "generate_until": d.get("prompt_token_count"),
                        "loglikelihood_rolling": d.get("tokens")}.get(kind)
            same_tokens = h_tokens is None or row.get("prompt_tokens") == h_tokens
            if not same_tokens:
                bad(f"{where} {row.get('prompt_tokens')} prompt tokens, harness {h_tokens}: the "
                    "text was tokenised differently")
            if kind == "multiple_choice":
                ll = row.get("choice_loglik") or []
                if len(ll) != len(d["loglikelihoods"]):
                    bad(f"{where} {len(ll)} choice log-likelihoods, harness "
                        f"{len(d['loglikelihoods'])}")
                else:
                    for i, (a, b) in enumerate(zip(ll, d["loglikelihoods"])):
                        track(a, b)
                        if not close(a, b):
                            bad(f"{where} choice {i} loglik llmpi {a:.8f} harness {b:.8f} "
                                f"(diff {a - b:+.2e}, continuation {d['continuations'][i]!r})")
                    lln = row.get("choice_loglik_normalised") or []
                    per_char = d.get("loglikelihood_per_char")
                    if per_char and len(lln) == len(per_char):
                        for i, (a, b) in enumerate(zip(lln, per_char)):
                            if not close(a, b):
                                bad(f"{where} choice {i} normalised loglik llmpi {a:.8f} harness "
                                    f"loglik/len(choice) {b:.8f} (choice {d['choices'][i]!r})")
                if row.get("chosen") != d["chosen_acc"]:
                    bad(f"{where} chosen llmpi {row.get('chosen')} harness acc pick "
                        f"{d['chosen_acc']}")
                m = MC_DETAIL.match(detail)
                if not m:
                    bad(f"{where} detail {detail!r} does not read 'chose i (normalised j), label k'")
                else:
                    if int(m.group(2)) != d["chosen_acc_norm"]:
                        bad(f"{where} normalised pick llmpi {m.group(2)} harness acc_norm pick "
                            f"{d['chosen_acc_norm']} (acc_bytes pick {d['chosen_acc_bytes']})")
                    if int(m.group(3)) != d["label"]:
                        bad(f"{where} label llmpi {m.group(3)} harness {d['label']}")
                if row.get("score") != d["acc"]:
                    bad(f"{where} score llmpi {row.get('score')} harness acc {d['acc']}")
                if row.get("score_normalised") != d["acc_norm"]:
                    bad(f"{where} score_normalised llmpi {row.get('score_normalised')} harness "
                        f"acc_norm {d['acc_norm']}")
                per_doc["score"].append(d["acc"])
                per_doc["score_normalised"].append(d["acc_norm"])
            elif kind == "generate_until":
                text = row.get("generated_text", "")
                if text != d["generated_text"]:
                    bad(f"{where} generated text differs: "
                        + first_difference(text, d["generated_text"]))
                strict = d["exact_match"].get("strict-match")
                flexible = d["exact_match"].get("flexible-extract")
                if row.get("score") != strict:
                    bad(f"{where} score llmpi {row.get('score')} harness strict-match {strict}")
                if row.get("score_normalised") != flexible:
                    bad(f"{where} score_normalised llmpi {row.get('score_normalised')} harness "
                        f"flexible-extract {flexible}")
                m = GSM8K_DETAIL.match(detail)
                if not m:
                    bad(f"{where} detail {detail!r} does not read 'strict-match X, "
                        "flexible-extract Y, reference Z'")
                else:
                    for label, got, want in (
                            ("strict-match answer", m.group(1), d["filtered"].get("strict-match")),
                            ("flexible-extract answer", m.group(2),
                             d["filtered"].get("flexible-extract")),
                            ("reference", m.group(3), harness_gsm8k_reference(h, d["target"]))):
                        if got != want:
                            bad(f"{where} {label} llmpi {got!r} harness {want!r}")
                per_doc["score"].append(strict)
                per_doc["score_normalised"].append(flexible)
            else:  # loglikelihood_rolling
                a, b = num(row.get("loglikelihood")), d["loglikelihood"]
                track(a, b)
                if not close(a, b):
                    bad(f"{where} loglikelihood llmpi {fmt(a, 8)} harness {b:.8f} "
                        + (f"(diff {a - b:+.2e}; " if a is not None else "(")
                        + f"{d['tokens']} tokens, {len(d['windows'])} windows)")
                for field in ("words", "bytes"):
                    if row.get(field) != d[field]:
                        bad(f"{where} {field} llmpi {row.get(field)} harness {d[field]}")
                m = ROLLING_DETAIL.match(detail)
                if m and int(m.group(1)) != len(d["windows"]):
                    bad(f"{where} {m.group(1)} windows, harness {len(d['windows'])} "
                        f"(max_length {d['max_length']})")
                per_doc["ll"].append(b)
                per_doc["words"].append(d["words"])
                per_doc["bytes"].append(d["bytes"])

        # Row level in the table.
        docs_verdict = "all" if k == n else ("MISMATCH" if args.require_all else "subset")
        table.append((name, "docs", f"{k} of {n}" + (f" (+{extra} more)" if extra else ""),
                      str(n), docs_verdict))
        if kind != "generate_until":
            diff_text = f"{max_diff:.3e}" if max_diff is not None else "-"
            if max_diff_same != max_diff:
                diff_text += (f" ({max_diff_same:.3e} tokenised alike)"
                              if max_diff_same is not None else " (none tokenised alike)")
            print(f"  largest |log-likelihood difference| {diff_text} (tolerance {tol_text})")
            table.append((name, "max |loglik diff|", diff_text, f"tol {tol_text}",
                          "ok" if row_bad == 0 else "see rows"))
        table.append((name, "row checks", f"{row_bad} mismatch(es)", f"{k} rows",
                      "ok" if row_bad == 0 else "MISMATCH"))
        mismatches += row_bad

        # Task level: llmpi's /summary/tasks against the harness's task metrics.
        s = summary.get(llmpi_task)
        if not matched:
            continue
        if extra:
            print(f"  task level not compared: llmpi's summary covers {extra} rows that the "
                  "harness did not run")
            table.append((name, "task level", "-", "-", "skipped (llmpi has more docs)"))
            continue
        if s is None:
            mismatches += 1
            print(f"  MISMATCH no /summary/tasks row for {llmpi_task!r}")
            table.append((name, "task level", "no summary row", "-", "MISMATCH"))
            continue
        full = k == n
        metrics = h["metrics"]
        if not full:
            print(f"  subset: {k} of {n} docs; the harness's task metrics are not compared; "
                  "llmpi's summary is compared with the harness's per-document values of these "
                  f"{k} docs, aggregated here as lm-eval does")

        def harness_value(metric, filt, values):
            """The harness's metric and stderr: as it reported them (all docs) or aggregated
            here from its per-document values (a subset)."""
            if full:
                return num(metrics.get(f"{metric},{filt}")), num(
                    metrics.get(f"{metric}_stderr,{filt}"))
            return mean_stderr(values)

        verdict_suffix = "" if full else " (subset)"

        def check_mean(label, llmpi_mean, llmpi_se, metric, filt, values):
            nonlocal mismatches
            hv, hs = harness_value(metric, filt, values)
            ok = close_abs(llmpi_mean, hv, MEAN_ABS_TOL)
            if hs is not None or llmpi_se is not None:
                ok = ok and close_abs(llmpi_se, hs, STDERR_ABS_TOL)
            if not ok:
                mismatches += 1
                print(f"  MISMATCH {label}: llmpi {pm(llmpi_mean, llmpi_se)} harness {pm(hv, hs)}")
            table.append((name, label, pm(llmpi_mean, llmpi_se), pm(hv, hs),
                          ("ok" if ok else "MISMATCH") + verdict_suffix))

        if kind == "multiple_choice":
            check_mean("acc", num(s.get("mean_score")), num(s.get("score_stderr")),
                       "acc", "none", per_doc["score"])
            check_mean("acc_norm", num(s.get("mean_score_normalised")),
                       num(s.get("score_normalised_stderr")), "acc_norm", "none",
                       per_doc["score_normalised"])
        elif kind == "generate_until":
            check_mean("exact_match strict-match", num(s.get("mean_score")),
                       num(s.get("score_stderr")), "exact_match", "strict-match",
                       per_doc["score"])
            check_mean("exact_match flexible-extract", num(s.get("mean_score_normalised")),
                       num(s.get("score_normalised_stderr")), "exact_match", "flexible-extract",
                       per_doc["score_normalised"])
        else:
            total = math.fsum(per_doc["ll"])
            words, nbytes = sum(per_doc["words"]), sum(per_doc["bytes"])
            mine = {"word_perplexity": math.exp(-total / words) if words else None,
                    "byte_perplexity": math.exp(-total / nbytes) if nbytes else None,
                    "bits_per_byte": -total / nbytes / math.log(2) if nbytes else None}
            # The documents' tolerances added up: how far the total log-likelihood may be off.
            slack = math.fsum(max(args.tol, rtol * abs(ll)) for ll in per_doc["ll"])
            allowed = {"word_perplexity": slack / words if words else 0.0,
                       "byte_perplexity": slack / nbytes if nbytes else 0.0,
                       "bits_per_byte": slack / abs(total) if total else 0.0}
            for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
                lv = num(s.get(metric))
                hv = num(metrics.get(f"{metric},none")) if full else mine[metric]
                rel = abs(lv - hv) / abs(hv) if lv is not None and hv else None
                limit = max(PERPLEXITY_RTOL, allowed[metric])
                ok = rel is not None and rel <= limit
                print(f"  {'MISMATCH ' if not ok else ''}{metric}: llmpi {fmt(lv, 9)} harness "
                      f"{fmt(hv, 9)} (relative difference "
                      f"{'-' if rel is None else f'{rel:.2e}'}, allowed {limit:.2e})")
                if not ok:
                    mismatches += 1
                table.append((name, metric, fmt(lv), fmt(hv),
                              ("ok" if ok else "MISMATCH") + verdict_suffix))

    others = sorted(set(by_task) - compared_tasks)
    if others:
        print(f"\nllmpi tasks without harness outputs (not compared): {', '.join(others)}")
    print()
    widths = [max(len(str(r[i])) for r in table + [("task", "metric", "llmpi ± stderr",
                                                     "harness ± stderr", "verdict")])
              for i in range(5)]
    header = ("task", "metric", "llmpi ± stderr", "harness ± stderr", "verdict")
    for r in [header] + table:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print()
    print(f"{mismatches} mismatch(es)" if mismatches else "no mismatches")
    return 1 if mismatches else 0


def close_abs(a, b, tol):
    return a is not None and b is not None and abs(a - b) <= tol


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the harness and write OUT/<task>.json")
    r.add_argument("--tasks", default=",".join(ALL_TASKS),
                   help=f"comma-separated, from {', '.join(ALL_TASKS)} (default all)")
    r.add_argument("--gsm8k", type=int, default=50, metavar="N",
                   help="GSM8K documents: records 5..4+N of the test file (default 50)")
    r.add_argument("--max-length", type=int, default=None,
                   help="HFLM max_length for every task (default: the model's "
                        "max_position_embeddings, 8192 for SmolLM2-135M)")
    r.add_argument("--window-max-length", type=int, default=128,
                   help="run perplexity-sample again with this max_length, as "
                        "perplexity-sample-wL (default 128; 0: not)")
    r.add_argument("--model", default=str(DEFAULT_MODEL))
    r.add_argument("--out", default=str(REPO / "harness-out"))
    r.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    c = sub.add_parser("compare", help="compare an llmpi results file with the harness JSON")
    c.add_argument("results", help="llmpi results file (HDF5)")
    c.add_argument("--harness-dir", default=str(REPO / "harness-out"))
    c.add_argument("--only", default="", help="comma-separated harness file stems to compare")
    c.add_argument("--task-map", action="append", default=[], metavar="HARNESS=LLMPI",
                   help="llmpi task for a harness output (its name, the JSON file's stem; "
                        "repeatable); default gsm8k=gsm8k-harness, the others the same name")
    c.add_argument("--tol", type=float, default=1e-4,
                   help="largest |log-likelihood difference| accepted (default 1e-4)")
    c.add_argument("--rtol", type=float, default=None,
                   help="also accept a log-likelihood difference up to this fraction of the "
                        "harness value (default: 1e-5 for loglikelihood_rolling documents, 0 "
                        "otherwise). The harness's float32 log_softmax leaves about 8e-6 nats "
                        "per token (measured against an fp64 forward pass), so a document of "
                        "hundreds of tokens differs by 1e-3 or more for that alone")
    c.add_argument("--require-all", action="store_true",
                   help="every harness document must have an llmpi row (default: a reduced "
                        "llmpi run compares its k of n docs and skips the harness's task "
                        "metrics)")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
