#!/usr/bin/env python3
"""Convert a Llama-2 SentencePiece `tokenizer.model` into Hugging Face
`tokenizer.json` + `tokenizer_config.json`.

Usage: python scripts/convert_llama2_tokenizer.py SRC/tokenizer.model OUT_DIR

The result has the layout of the tokenizer.json published in
meta-llama/Llama-2-7b-hf (the "legacy" Llama fast tokenizer):

  normalizer     Sequence[Prepend("▁"), Replace(" " -> "▁")]
  pre_tokenizer  null
  model          BPE(unk_token="<unk>", fuse_unk=true, byte_fallback=true),
                 merges ranked by SentencePiece piece score
  post_processor TemplateProcessing(single "<s>:0 $A:0", pair "<s>:0 $A:0 <s>:1 $B:1")
  decoder        Sequence[Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)]
  added tokens   <unk>=0, <s>=1, </s>=2 (special, normalized=false)

How: transformers' own slow->fast converter, `LlamaConverter` with
legacy=True and add_prefix_space=True (the settings that produced the
published file), supplies the normalizer, pre-tokenizer and decoder. Its
`tokenizer()` step is broken for BPE models in transformers 5.x (it calls
`SentencePieceExtractor.extract(vocab_scores)`, whose signature changed), so
that one step is redone here as it is meant to work: vocab in piece-id order,
merges from transformers' `generate_merges(vocab, vocab_scores)` (ordered by
the SentencePiece score of the merged piece, which is what makes the BPE
reproduce SentencePiece), and the control pieces added as special tokens. The
post-processor is what transformers' `update_post_processor()` builds for
add_bos_token=True, add_eos_token=False.

tokenizer_config.json mirrors the published one (LlamaTokenizer,
add_bos_token=true, add_eos_token=false, legacy=false). Note that
transformers 5's `AutoTokenizer` does not load a LlamaTokenizer's
tokenizer.json verbatim: it rebuilds the pipeline (Metaspace pre-tokenizer,
prepend_scheme="first", no normalizer) from the vocab and merges, exactly as
it does for the published repo. `tokenizers.Tokenizer.from_file` (and
`PreTrainedTokenizerFast`) use the file as written.

Needs only transformers, tokenizers, sentencepiece and protobuf (no torch).
Deterministic: the same tokenizer.model always gives the same bytes.
"""

import argparse
import json
import sys
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, processors
from tokenizers.models import BPE
from transformers.convert_slow_tokenizer import LlamaConverter
from transformers.tokenization_utils_base import generate_merges

UNK, BOS, EOS = "<unk>", "<s>", "</s>"


class _LlamaSlowStandIn:
    """The attributes LlamaConverter reads from a slow LlamaTokenizer (transformers 5
    has no slow Llama class any more), with the published repo's legacy settings."""

    legacy = True
    add_prefix_space = True

    def __init__(self, vocab_file):
        self.vocab_file = str(vocab_file)

    def convert_ids_to_tokens(self, index):
        return (UNK, BOS, EOS)[index]


class _Llama2Converter(LlamaConverter):
    def tokenizer(self, proto):
        if proto.trainer_spec.model_type != 2:
            raise SystemExit("convert_llama2_tokenizer: expected a SentencePiece BPE model (model_type=BPE)")
        vocab_scores = self.vocab(proto)
        vocab = {piece: i for i, (piece, _score) in enumerate(vocab_scores)}
        if len(vocab) != len(vocab_scores):
            raise SystemExit("convert_llama2_tokenizer: duplicate pieces in the SentencePiece model")
        merges = generate_merges(vocab, vocab_scores)
        tokenizer = Tokenizer(
            BPE(
                vocab,
                merges,
                unk_token=proto.trainer_spec.unk_piece,
                fuse_unk=True,
                byte_fallback=True,
                dropout=None,
            )
        )
        # unk, then control (type 3) and user-defined (type 4) pieces, by id; as in
        # SpmConverter.tokenizer plus the unk token LlamaTokenizerFast registered.
        added = [
            AddedToken(p.piece, normalized=False, special=p.type != 4)
            for i, p in enumerate(proto.pieces)
            if p.type in (2, 3, 4)
        ]
        tokenizer.add_special_tokens([t for t in added if t.special])
        tokenizer.add_tokens([t for t in added if not t.special])
        return tokenizer


def convert(model_path: Path, out_dir: Path) -> None:
    converter = _Llama2Converter(_LlamaSlowStandIn(model_path))
    tokenizer = converter.converted()
    proto = converter.proto
    spec = proto.trainer_spec
    if (spec.unk_id, spec.bos_id, spec.eos_id) != (0, 1, 2) or (spec.unk_piece, spec.bos_piece, spec.eos_piece) != (
        UNK,
        BOS,
        EOS,
    ):
        raise SystemExit(
            "convert_llama2_tokenizer: unexpected special pieces "
            f"{(spec.unk_id, spec.unk_piece, spec.bos_id, spec.bos_piece, spec.eos_id, spec.eos_piece)}; "
            "this converter is for Llama-2's tokenizer.model"
        )
    if not spec.byte_fallback:
        raise SystemExit("convert_llama2_tokenizer: expected byte_fallback=true in the SentencePiece model")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0",
        pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
        special_tokens=[(BOS, tokenizer.token_to_id(BOS))],
    )

    # Sanity checks against the published layout before writing anything.
    j = json.loads(tokenizer.to_str())
    assert j["normalizer"] == {
        "type": "Sequence",
        "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        ],
    }, j["normalizer"]
    assert j["pre_tokenizer"] is None, j["pre_tokenizer"]
    assert [d["type"] for d in j["decoder"]["decoders"]] == ["Replace", "ByteFallback", "Fuse", "Strip"], j["decoder"]
    assert j["model"]["byte_fallback"] and j["model"]["fuse_unk"] and j["model"]["unk_token"] == UNK
    assert [(t["id"], t["content"], t["special"]) for t in j["added_tokens"]] == [
        (0, UNK, True),
        (1, BOS, True),
        (2, EOS, True),
    ], j["added_tokens"]
    assert tokenizer.get_vocab_size() == len(proto.pieces)

    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"), pretty=True)

    def added(content):
        return dict(content=content, lstrip=False, normalized=False, rstrip=False, single_word=False, special=True)

    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": {"0": added(UNK), "1": added(BOS), "2": added(EOS)},
        "bos_token": BOS,
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "legacy": False,
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": None,
        "padding_side": "right",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": UNK,
    }
    with open(out_dir / "tokenizer_config.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")

    # Round trip: the written file must load and reproduce SentencePiece on a plain sentence.
    reloaded = Tokenizer.from_file(str(out_dir / "tokenizer.json"))
    probe = "Hello world, this is a test of the Llama tokenizer: 12345 émigré 😀"
    ids = reloaded.encode(probe).ids
    try:
        import sentencepiece

        sp_ids = sentencepiece.SentencePieceProcessor(model_file=str(model_path)).encode(probe)
        if ids != [1] + sp_ids:
            raise SystemExit(f"convert_llama2_tokenizer: round trip differs from SentencePiece: {ids} vs {sp_ids}")
    except ImportError:
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="SentencePiece tokenizer.model")
    ap.add_argument("out_dir", type=Path, help="directory for tokenizer.json and tokenizer_config.json")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"convert_llama2_tokenizer: no such file: {args.model}", file=sys.stderr)
        return 1
    try:
        convert(args.model, args.out_dir)
    except ImportError as e:
        print(f"convert_llama2_tokenizer: missing dependency ({e}); "
              "install transformers, tokenizers, sentencepiece and protobuf", file=sys.stderr)
        return 1
    except Exception as e:  # protobuf's DecodeError and friends: not a SentencePiece model
        if type(e).__name__ != "DecodeError":
            raise
        print(f"convert_llama2_tokenizer: {args.model} is not a SentencePiece model: {e}", file=sys.stderr)
        return 1
    print(f"convert_llama2_tokenizer: wrote {args.out_dir}/tokenizer.json and tokenizer_config.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
