#!/usr/bin/env python3
r"""Write the tokenizer reference fixtures under tests/fixtures/tokenizers/.

  falcon_style/tokenizer.json, falcon_style/tokenizer_config.json
      A small (4000-entry) byte-level BPE trained here, with `tokenizers`, on
      text this script generates. It copies the pipeline of tiiuae/falcon-7b's
      published tokenizer.json: no normalizer; pre-tokenizer
      Sequence[Punctuation(Contiguous), ByteLevel(add_prefix_space=false,
      trim_offsets=true, use_regex=true), Digits(individual_digits=false),
      Split(Regex "[0-9][0-9][0-9]", Isolated)]; no post-processor; ByteLevel
      decoder; Falcon's 12 special tokens at ids 0..11 (eos <|endoftext|> = 11).
  corpus.jsonl
      Test strings, one {"text": ...} per line (see build_corpus()): prose in
      several languages and scripts, code, numbers, emoji, combining marks,
      whitespace runs, special tokens in the text, control characters, ...
  <name>.expected.jsonl for name in llama2, smollm2, falcon_style
      Line i answers corpus line i:
        {"ids": encode(text, add_special_tokens=False).ids,
         "ids_special": encode(text, add_special_tokens=True).ids,
         "decoded": decode(ids_special, skip_special_tokens=False),
         "decoded_skip": decode(ids_special, skip_special_tokens=True)}
      computed with tokenizers.Tokenizer.from_file(tokenizer.json), which is what
      transformers runs underneath.

Inputs: models/tokenizers/llama2/ (scripts/fetch_tokenizers.sh) and
models/SmolLM2-135M-Instruct/ (scripts/fetch_smollm2.sh); both are git-ignored,
so the Llama-2 vocabulary is never checked in (only token ids are).

Checks while writing: transformers' PreTrainedTokenizerFast on the same file
must agree with `tokenizers` on every corpus line (ids, ids with special
tokens, both decodes). transformers' AutoTokenizer is compared too and its
disagreements printed: for llama2 (LlamaTokenizer) and smollm2
(GPT2Tokenizer) transformers 5 rebuilds the pipeline instead of loading
tokenizer.json as written, so it legitimately differs on some strings; for
falcon_style (PreTrainedTokenizerFast) it must agree. For llama2 the ids are
also compared with SentencePiece itself when LLMPI_LLAMA2_TOKENIZER names the
tokenizer.model (reported, not enforced).

Deterministic: fixed seeds, single-threaded tokenizers (also for training),
fixed output order; every run writes the same bytes given the same library
versions (checked: two runs in different virtualenvs gave identical files).
The checked-in files were produced with tokenizers 0.23.3, transformers
5.24.0, sentencepiece 0.2.3, protobuf 7.36.2 on Python 3.11.

JSON lines are compact (no spaces) UTF-8 with "\n" line ends. Non-ASCII, DEL
and C1 controls are written raw; only U+0000..U+001F, '"' and '\' are
escaped (as \uXXXX or \n \r \t \b \f), so there are no surrogate-pair escapes.

Usage: scripts/make_tokenizer_fixtures.sh  (or run this file with a Python that
has tokenizers + transformers; add --only NAME to limit the expected files)
"""

import os

# Before tokenizers is imported: single-threaded, so training and output do not
# depend on the machine.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import tokenizers  # noqa: E402
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "tokenizers"
CORPUS_SEED = 20250611
TRAIN_SEED = 7
FALCON_VOCAB = 4000

FALCON_SPECIAL = [
    ">>TITLE<<",
    ">>ABSTRACT<<",
    ">>INTRODUCTION<<",
    ">>SUMMARY<<",
    ">>COMMENT<<",
    ">>ANSWER<<",
    ">>QUESTION<<",
    ">>DOMAIN<<",
    ">>PREFIX<<",
    ">>SUFFIX<<",
    ">>MIDDLE<<",
    "<|endoftext|>",
]

TOKENIZERS = {
    "llama2": REPO / "models" / "tokenizers" / "llama2",
    "smollm2": REPO / "models" / "SmolLM2-135M-Instruct",
    "falcon_style": OUT / "falcon_style",
}
LLAMA2_SPM = Path(os.environ.get("LLMPI_LLAMA2_TOKENIZER", ""))

# --------------------------------------------------------------------------
# Text material (written for this file).
# --------------------------------------------------------------------------

EN = [
    "The quick brown fox jumps over the lazy dog.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "Tokenizers split text into pieces that a model can look up in a table.",
    "She didn't know whether the train would arrive before noon or after.",
    "We'll need three eggs, two cups of flour, and a pinch of salt.",
    "Why does the kettle always boil over when nobody is watching it?",
    "According to the report, sales rose by 12% in the second quarter.",
    "The museum opens at 9:30 a.m. and closes at 5 p.m. on weekdays.",
    "He said, \"I'm not sure,\" and then he walked away without another word.",
    "Mount Everest is 8,849 metres tall; K2 is a little lower.",
    "Please reply to this e-mail by Friday, 14 March 2025.",
    "A byte-pair encoder merges the most frequent pair of symbols, again and again.",
    "They're going to the market; we're staying home.",
    "I've been there twice, and I'd go again if I could.",
    "Don't panic! Everything is under control... mostly.",
    "The error message read: 'file not found (errno 2)'.",
    "Our new office is on the 3rd floor of 221B Baker Street.",
    "Rain is expected overnight, clearing by mid-morning.",
    "Temperatures will range from -5°C to +3°C this week.",
    "In 1969, two astronauts walked on the Moon for about two and a half hours.",
    "The function returns None when the key is missing.",
    "WHY ARE YOU SHOUTING?! I CAN HEAR YOU JUST FINE.",
    "iPhone, eBay, and macOS break the usual capitalisation rules.",
    "Mr. O'Neill's dog—a terrier named Biscuit—barked at the postman.",
    "Question: what is 2 + 2? Answer: 4.",
    "The committee will reconvene after lunch (around 1:45 pm).",
    "Some words are hyphenated: state-of-the-art, well-known, twenty-one.",
    "Visit https://example.com/docs?page=2&lang=en#section-3 for details.",
    "Email me at first.last+tag@example.org or call +1 (555) 010-9999.",
    "The quick brown fox didn't jump; it simply walked around the dog.",
]
SV = [
    "Jag har ätit smörgåsar hela dagen och nu är jag mätt.",
    "Det är kallt i Kiruna på vintern, ofta under minus tjugo grader.",
    "Kan du hjälpa mig att översätta den här meningen till engelska?",
    "Älgen stod stilla vid vägkanten och tittade på bilarna.",
    "Vi ses på fredag klockan åtta vid stora torget.",
    "Hon läser en bok om Sveriges historia på tåget till Göteborg.",
    "Överallt låg snö, och barnen byggde en snögubbe på gården.",
    "Får jag be om notan, tack?",
]
ES = [
    "¿Dónde está la biblioteca? Necesito devolver tres libros.",
    "¡Qué sorpresa verte aquí después de tantos años!",
    "El niño comió una manzana y luego se durmió en el sofá.",
    "Mañana iremos a la montaña si no llueve demasiado.",
    "La reunión empezará a las diez y media en la sala número cuatro.",
    "Según el pronóstico, habrá tormentas en el norte de España.",
    "Él dijo que sí, pero ella respondió que todavía no.",
    "El pingüino y la cigüeña viven en lugares muy distintos.",
]
CA = [
    "Bon dia! Com estàs? Fa molt de temps que no ens veiem.",
    "La col·lecció del museu inclou quadres del segle XIX.",
    "A l'estiu anem a la platja de Tarragona amb la família.",
    "Els nens juguen a la plaça després de l'escola.",
    "Vull un cafè amb llet i un croissant, si us plau.",
    "La intel·ligència artificial canvia la manera de treballar.",
    "Barcelona és la capital de Catalunya i té molts barris diferents.",
    "Què en penses, d'aquesta proposta? Jo la trobo interessant.",
]
ZH = [
    "今天天气很好，我们去公园散步吧。",
    "我正在学习如何把文本切分成词元。",
    "这本书的第三章讲的是机器学习的基础知识。",
    "他昨天晚上十一点才回家，因为加班。",
    "请问，去火车站怎么走？",
    "人工智能正在改变我们的生活和工作方式。",
    "北京、上海和广州都是中国的大城市。",
    "我喜欢喝绿茶，不太喜欢喝咖啡。",
]
AR = [
    "مرحبا بكم في هذا الاختبار البسيط.",
    "اللغة العربية تُكتب من اليمين إلى اليسار.",
    "ذهبتُ إلى السوق واشتريتُ خبزًا وحليبًا.",
    "كم الساعة الآن؟ أظن أنها الثالثة والنصف.",
    "يَدْرُسُ الطُّلَّابُ فِي الْمَكْتَبَةِ كُلَّ مَسَاءٍ.",
    "وُلِدَ في عام ١٩٨٥ في مدينة القاهرة.",
    "هذا النص يحتوي على أرقام مثل 2024 و٣٤٥.",
    "شكرًا جزيلًا على مساعدتك!",
]
OTHER = [
    # Russian, Ukrainian, Greek
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "Привет! Как дела? Сегодня 15 градусов и солнечно.",
    "Ґава, їжак і єнот живуть у лісі.",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    # Hindi, Bengali, Tamil, Thai
    "नमस्ते, आप कैसे हैं? मैं ठीक हूँ, धन्यवाद।",
    "हिन्दी में संयुक्ताक्षर जैसे क्ष, त्र, ज्ञ होते हैं।",
    "আমি বাংলায় কথা বলি।",
    "தமிழ் ஒரு பழமையான மொழி.",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    # Japanese, Korean
    "私は東京に住んでいます。カタカナとひらがなと漢字を使います。",
    "ｶﾀｶﾅの半角文字と全角ＡＢＣ１２３も混ざります。",
    "안녕하세요. 오늘 날씨가 정말 좋네요!",
    "한국어는 한글로 씁니다.",
    # Hebrew, Persian, Turkish, Vietnamese, German, French, Polish
    "שלום עולם, זה מבחן קטן.",
    "سلام، حال شما چطور است؟",
    "İstanbul'da ılık bir gün; ağaçlar çiçek açtı.",
    "Tiếng Việt có nhiều dấu: ắ, ằ, ẳ, ẵ, ặ, ế, ờ, ự.",
    "Größere Straßen führen über die Brücke nach Düsseldorf.",
    "L'été dernier, nous sommes allés à la plage près de Nice.",
    "Zażółć gęślą jaźń.",
    "Ærøskøbing ligger på Ærø.",
    "Þetta er íslenska með ð og þ.",
]
WORDS = sorted(
    {w.strip(".,;:!?¿¡()\"'«»—") for s in EN + SV + ES + CA + OTHER for w in s.split()} - {""}
)

EMOJI = [
    "😀", "😂", "🥲", "🤖", "🚀", "🎉", "🔥", "💯", "🙏", "👀", "🧠", "🦀", "🐍", "☕", "⭐", "✅", "❌", "⚠️",
    "❤️", "❤", "♥", "☺️", "✌️", "🏳️", "🏴‍☠️", "🏳️‍🌈", "🏳️‍⚧️",
    "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "🧑🏿‍💻", "👩🏽‍🔬", "👨‍🍳", "🤷‍♀️", "🙋🏻‍♂️",
    "👨‍👩‍👧‍👦", "👩‍❤️‍💋‍👨", "👨‍👨‍👧", "🧑‍🤝‍🧑", "🫱🏼‍🫲🏾",
    "🇸🇪", "🇪🇸", "🇨🇳", "🇸🇦", "🇺🇸", "🇬🇧", "🇪🇺", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "1️⃣", "#️⃣", "*️⃣", "🔟", "©️", "™️", "🅰️",
]
COMBINING = [
    "e\u0301", "a\u0308", "o\u0302\u0323", "n\u0303", "c\u0327", "u\u031b\u0300",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034d",
    "a\u20dd", "1\u20e3", "\u0915\u094d\u0937", "\u1100\u1161\u11a8", "i\u0307\u0301", "\u05e9\u05c1\u05b8",
    "A\u030a", "\u212b", "\u00c5", "\ufb01", "\u0041\u0300\u0301\u0302\u0303\u0304",
]
UNI_SPACES = [
    "\u00a0", "\u1680", "\u2000", "\u2002", "\u2003", "\u2007", "\u2009", "\u200a", "\u202f", "\u205f",
    "\u3000", "\u2028", "\u2029", "\u0085", "\u000b", "\u000c", "\u001c", "\u001d", "\u001e", "\u001f",
]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202e", "\u2066",
             "\u034f", "\ufe0f", "\ufe0e", "\U000e0041"]
CONTROLS = [chr(c) for c in list(range(0x00, 0x09)) + [0x0e, 0x0f, 0x10, 0x1a, 0x1b, 0x7f]] + [
    chr(c) for c in range(0x80, 0xa0, 7)
]
NON_BMP = ["𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝐀𝐁𝐂", "𝟘𝟙𝟚", "𐍈", "𓀀𓂀", "𠀀𠜎𡃁", "🜁", "𝄞", "\U0001f9ff", "\U0010fffd", "\U000f0000",
           "\U00010000", "🀄", "𞤀𞤁"]
ODD_CHARS = ["\U00040000", "a\U000b0001b", "\U0005ffff\U00060000", "³²¹¼½¾", "\x04\x06\x13\x14\x16\x1d", "\ue000", "\uf8ff", "\ufffd", "\ufffe", "\uffff", "\ufdd0", "\u2581", "\u2581\u2581", "Ġ", "Ċ", "ĉ",
             "\u0120\u0121", "<0x0A>", "<0x41>", "<0xFF>", "\u00ff\u00fe", "Ω", "Ω", "ℌ", "ﬀ", "ǅ", "ß", "ẞ",
             "İ", "ı", "ﷺ", "﷽", "∑∫√∞≠≤≥", "½¾⅓", "²³¹⁰", "Ⅻ", "①②③", "٠١٢٣٤٥٦٧٨٩", "۱۲۳", "१२३", "๑๒๓",
             "１２３", "𝟏𝟐"]

SPECIAL_IN_TEXT = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", ">>TITLE<<", ">>ABSTRACT<<",
    ">>INTRODUCTION<<", ">>SUMMARY<<", ">>COMMENT<<", ">>ANSWER<<", ">>QUESTION<<", ">>DOMAIN<<", ">>PREFIX<<",
    ">>SUFFIX<<", ">>MIDDLE<<", "<repo_name>", "<reponame>", "<file_sep>", "<filename>", "<gh_stars>",
    "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>", "<jupyter_code>",
    "<jupyter_output>", "<jupyter_script>", "<empty_output>",
]
MALFORMED_SPECIAL = [
    "<|im_st", "im_start|>", "<|im_start", "<| im_start |>", "<|IM_START|>", "<|im_start|", "|>", "<|", "<||>",
    "<|endoftext", "endoftext|>", "<|endoftext|", "< s>", "<s", "s>", "</s", "<S>", "<<s>>", "<s><s>", "<</s>>",
    ">>TITLE<", ">TITLE<<", ">>title<<", ">> TITLE <<", ">>>TITLE<<<", ">>TITLE<<<<", ">><<", "<unk", "<UNK>",
    "<|im_start|><|im_start|>", "<|im_end|><|im_end|>", "<file_sep", "<filename >", "<jupyter_",
    "<|endoftext|>>", "<<|endoftext|>", "<|im_start|>>>TITLE<<", ">>MIDDLE<<<|endoftext|>",
]

NAMES = ["alpha", "beta", "count", "total", "idx", "buf", "node", "value", "result", "tmp", "data", "items", "x", "y",
         "matrix", "tokens", "width", "height", "name", "path", "user_id", "MAX_LEN", "self", "ctx", "ptr", "len"]


def py_snippet(rng):
    ind = rng.choice(["    ", "  ", "\t", "        "])
    nl = rng.choice(["\n"] * 6 + ["\r\n"])
    a, b, c = rng.sample(NAMES, 3)
    n = rng.randint(0, 10 ** rng.randint(1, 6))
    bodies = [
        [f"def {a}_{b}({c}, n={n}):", f'{ind}"""Return the {b} of {c}."""', f"{ind}if not {c}:",
         f"{ind}{ind}return None", f"{ind}for i in range(n):", f"{ind}{ind}{c} = {c} * 2 + i  # double it",
         f"{ind}return {c}"],
        [f"class {a.title()}{b.title()}:", f"{ind}def __init__(self, {c}):", f"{ind}{ind}self.{c} = {c}",
         "", f"{ind}def __repr__(self):", f"{ind}{ind}return f\"{a.title()}({{self.{c}!r}})\""],
        [f"{a} = [{', '.join(str(rng.randint(-99, 999)) for _ in range(rng.randint(1, 6)))}]",
         f"{b} = {{k: v for k, v in enumerate({a}) if v % 2 == 0}}", f"print({b}, sep='\\t', end='\\n')"],
        [f"with open('{a}.txt', 'rb') as f:", f"{ind}for line in f:", f"{ind}{ind}if line.startswith(b'#'):",
         f"{ind}{ind}{ind}continue", f"{ind}{ind}{b}.append(line.rstrip().decode('utf-8'))"],
        [f"try:", f"{ind}{a} = int({b}) / {n}", f"except (ValueError, ZeroDivisionError) as e:",
         f"{ind}raise RuntimeError(f'bad {{e!s}}') from e", "finally:", f"{ind}pass"],
        [f"@staticmethod", f"async def {a}(*args, **kwargs) -> dict[str, int]:",
         f"{ind}await asyncio.sleep(0.{n})", f"{ind}return {{'{b}': len(args), **kwargs}}"],
        [f"if __name__ == '__main__':", f"{ind}{a} = lambda {c}: {c} ** 2 if {c} >= 0 else -{c}",
         f"{ind}assert {a}({n}) == {n * n}, \"math is broken\"", f"{ind}sys.exit(0)"],
    ]
    lines = rng.choice(bodies)
    if rng.random() < 0.3:
        lines = lines + [""] + rng.choice(bodies)
    if rng.random() < 0.2:
        lines = [ln + rng.choice(["  ", "\t", " "]) for ln in lines]  # trailing whitespace
    return nl.join(lines) + rng.choice(["", nl, nl + nl])


def c_snippet(rng):
    ind = rng.choice(["\t", "    ", "  "])
    nl = rng.choice(["\n"] * 6 + ["\r\n"])
    a, b, c = rng.sample(NAMES, 3)
    n = rng.randint(0, 10 ** rng.randint(1, 5))
    bodies = [
        ["#include <stdio.h>", "#include <stdlib.h>", "", "int main(int argc, char **argv) {",
         f"{ind}int {a} = {n};", f"{ind}for (int i = 0; i < argc; ++i) {{",
         f"{ind}{ind}printf(\"%s\\t%d\\n\", argv[i], {a}++);", f"{ind}}}", f"{ind}return {a} > 0 ? 0 : 1;", "}"],
        [f"static inline size_t {a}_{b}(const char *{c}, size_t len)", "{", f"{ind}size_t h = 0x811c9dc5u;",
         f"{ind}while (len--) h = (h ^ (unsigned char)*{c}++) * 16777619u;", f"{ind}return h;", "}"],
        [f"typedef struct {a} {{", f"{ind}float {b}[{n % 64 + 1}];", f"{ind}struct {a} *next;",
         f"}} {a}_t;  /* linked list of {b} */"],
        [f"#define {a.upper()}_MAX ({n}u)", f"#define {b.upper()}(x) ((x) << 2 | ((x) >> 30))",
         f"if ({c} != NULL && *{c} == '\\0') {{ {c} = \"(empty)\"; }}"],
        [f"switch ({a}) {{", f"case {n % 7}:", f"{ind}{b} += {c}[{a}];", f"{ind}break;", "default:",
         f"{ind}fprintf(stderr, \"unexpected %d\\n\", {a});", "}"],
        [f"// {b}: compute the {c}", f"double {a}(double *v, int n) {{", f"{ind}double s = 0.0;",
         f"{ind}for (int i = 0; i < n; i++) s += v[i] * 1e-{n % 9};", f"{ind}return s / (n ? n : 1);", "}"],
    ]
    lines = rng.choice(bodies)
    if rng.random() < 0.15:
        lines = [ln + rng.choice([" ", "\t"]) for ln in lines]
    return nl.join(lines) + rng.choice(["", nl])


def number_string(rng):
    k = rng.randrange(16)
    if k == 0:
        return str(rng.randint(0, 10 ** rng.randint(1, 25)))
    if k == 1:
        return f"{rng.randint(-10**7, 10**7):,}"
    if k == 2:
        return f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 8)}f}"
    if k == 3:
        return f"{rng.randint(1900, 2099)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if k == 4:
        return f"{rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.randint(0, 99):02d}"
    if k == 5:
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}"
    if k == 6:
        return f"v{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
    if k == 7:
        return f"0x{rng.getrandbits(rng.choice([8, 16, 32, 64])):X}"
    if k == 8:
        return f"{rng.uniform(0, 10):.3f}e{rng.choice(['', '-', '+'])}{rng.randint(0, 308)}"
    if k == 9:
        return f"{rng.randint(0, 100)}%"
    if k == 10:
        return rng.choice(["$", "€", "£", "¥", "₹", "kr ", "USD "]) + f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"
    if k == 11:
        return f"+{rng.randint(1, 99)} ({rng.randint(100, 999)}) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    if k == 12:
        return f"{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    if k == 13:
        return " ".join(str(rng.randint(0, 10 ** rng.randint(0, 7))) for _ in range(rng.randint(2, 8)))
    if k == 14:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12))) + rng.choice(
            ["th", "st", "nd", "rd", "km", " kg", "°", "px", ""])
    return rng.choice(ODD_CHARS[-12:]) + str(rng.randint(0, 9999))


def prose(rng, pool, k_max=3):
    return " ".join(rng.choice(pool) for _ in range(rng.randint(1, k_max)))


def whitespace_run(rng, allow_unicode=True):
    parts = [" ", "  ", "\n", "\n\n", "\t", "\r\n", "\r", "   ", "\t\t", " \n", "\n "]
    if allow_unicode:
        parts += UNI_SPACES
    return "".join(rng.choice(parts) for _ in range(rng.randint(1, 6)))


def fragment(rng):
    k = rng.randrange(14)
    if k <= 2:
        return prose(rng, EN, 2)
    if k == 3:
        return prose(rng, rng.choice([SV, ES, CA]), 1)
    if k == 4:
        return prose(rng, rng.choice([ZH, AR, OTHER]), 1)
    if k == 5:
        return number_string(rng)
    if k == 6:
        return rng.choice(EMOJI) * rng.randint(1, 3)
    if k == 7:
        return rng.choice(SPECIAL_IN_TEXT + MALFORMED_SPECIAL)
    if k == 8:
        return rng.choice(COMBINING + NON_BMP + ODD_CHARS)
    if k == 9:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
    if k == 10:
        return py_snippet(rng).split("\n")[0]
    if k == 11:
        return c_snippet(rng).split("\n")[-1]
    if k == 12:
        return rng.choice(INVISIBLE + CONTROLS + UNI_SPACES)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'.,;:!?()[]{}<>|/\\@#$%^&*+=~`\"")
                   for _ in range(rng.randint(1, 12)))


def random_codepoints(rng, n):
    ranges = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x6ff), (0x900, 0x97f),
              (0xe00, 0xe7f), (0x1100, 0x11ff), (0x2000, 0x206f), (0x2190, 0x23ff), (0x3040, 0x30ff),
              (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xff00, 0xffef), (0x1f300, 0x1faff), (0x1d400, 0x1d7ff),
              (0x20000, 0x2a6df), (0xe000, 0xe0ff)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def build_corpus():
    rng = random.Random(CORPUS_SEED)
    c = []

    # 1. Hand-picked edge cases.
    c += ["", " ", "  ", "\n", "\t", "\r\n", "\r", "\n\n\n", " \n ", "\t \t", "a", "A", "0", "00", "000", "0000",
          "1234567", ".", "...", "'", "'s", "'S", "'ll", "I'M", "don't", "DON'T", "it's", "Hello", " Hello",
          "Hello ", "  Hello  ", "\tHello\t", "\nHello\n", "Hello\r\nWorld\r\n", "hello world", "hello  world",
          "hello   world", "hello\u00a0world", "hello\u3000world", "hello\u2009world", "\u00a0", "\u3000",
          "   leading spaces", "trailing spaces   ", "\n\nleading newlines", "trailing newlines\n\n",
          "\u2581", "\u2581hello", " \u2581", "\u2581\u2581\u2581", "hello\u2581world", "Ġhello", "ĠĠ",
          "<0x0A>", "a<0x41>b", "\x00", "a\x00b", "\x7f", "\x1b[31mred\x1b[0m", "\ufeffBOM at start",
          "zero\u200bwidth", "soft\u00adhyphen", "e\u0301", "\u00e9", "\u0065\u0301\u0301\u0301",
          "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇸🇪🇪🇸", "🏳️‍🌈", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\U0010ffff", "\U0001f600\U0001f600",
          "中", "中文", "ع", "١٢٣", "½", "²", "ß", "İ", "ǅ", "ﬁ", "Å", "Å", "\u212b",
          "<s>", "</s>", "<unk>", "<s></s>", "<s> </s>", " <s>", "<s> ", "a<s>b", "a <s> b", "<s>hello",
          "hello</s>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|endoftext|><|endoftext|>",
          "text<|endoftext|>text", " <|endoftext|> ", ">>TITLE<<", ">>TITLE<<Hello", "Hi >>ANSWER<< 42",
          "<|im_st", "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
          "\u0600\u0601", "\u061c", "\u2066isolate\u2069", "a\u0308\u0304", "\U000e0001\U000e0065\U000e006e",
          ]
    for ch in (chr(i) for i in range(0x20, 0x7f)):
        c.append(ch)
    c += [" " * n for n in (3, 4, 5, 7, 8, 15, 16, 17, 31, 64)]
    c += ["\n" * n for n in (2, 3, 4, 7)] + ["\t" * n for n in (2, 3, 4, 8)] + ["\r\n" * n for n in (2, 3)]
    c += [s + "x" for s in UNI_SPACES] + ["x" + s for s in UNI_SPACES] + ["x" + s + "y" for s in UNI_SPACES]
    c += ["a" + s + "b" for s in INVISIBLE] + ["a" + s + "b" for s in CONTROLS]
    c += COMBINING + NON_BMP + ODD_CHARS + EMOJI + SPECIAL_IN_TEXT + MALFORMED_SPECIAL

    # 2. Prose.
    c += [prose(rng, EN) for _ in range(140)]
    for pool, n in ((SV, 50), (ES, 50), (CA, 50), (ZH, 50), (AR, 50), (OTHER, 70)):
        c += [prose(rng, pool, 2) for _ in range(n)]
    c += [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) for _ in range(60)]
    c += [prose(rng, EN, 2).upper() for _ in range(10)] + [prose(rng, EN, 2).lower() for _ in range(10)]

    # 3. Code.
    c += [py_snippet(rng) for _ in range(80)]
    c += [c_snippet(rng) for _ in range(80)]

    # 4. Numbers and dates, alone and in sentences.
    c += [number_string(rng) for _ in range(140)]
    c += [f"{rng.choice(EN)[:-1]} {number_string(rng)}{rng.choice(['.', '!', '', ' ', ','])}" for _ in range(50)]

    # 5. Emoji, combining marks, non-BMP, odd characters.
    c += ["".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 6))) for _ in range(50)]
    c += [f"{rng.choice(WORDS)}{rng.choice(EMOJI)}{rng.choice(['', ' '])}{rng.choice(WORDS)}" for _ in range(40)]
    c += ["".join(rng.choice(COMBINING + NON_BMP + ODD_CHARS + INVISIBLE) for _ in range(rng.randint(1, 5)))
          for _ in range(50)]
    c += [random_codepoints(rng, rng.randint(1, 24)) for _ in range(100)]

    # 6. Whitespace runs and leading/trailing whitespace.
    c += [whitespace_run(rng) for _ in range(50)]
    c += [whitespace_run(rng, False) + fragment(rng) + whitespace_run(rng, False) for _ in range(50)]
    c += [whitespace_run(rng).join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))) for _ in range(60)]

    # 7. Special tokens inside text, chat templates.
    for _ in range(120):
        toks = [rng.choice(SPECIAL_IN_TEXT + MALFORMED_SPECIAL) for _ in range(rng.randint(1, 3))]
        sep = [rng.choice(["", " ", "\n", "  "]) for _ in range(len(toks) + 1)]
        body = [fragment(rng) for _ in range(len(toks) + 1)]
        s = body[0]
        for t, sp, b in zip(toks, sep, body[1:]):
            s += sp + t + rng.choice(["", " ", "\n"]) + b
        c.append(s)
    for _ in range(40):
        turns = []
        for _ in range(rng.randint(1, 3)):
            role = rng.choice(["system", "user", "assistant"])
            turns.append(f"<|im_start|>{role}\n{fragment(rng)}<|im_end|>\n")
        c.append("".join(turns) + rng.choice(["", "<|im_start|>assistant\n"]))
    for _ in range(30):
        c.append(f"<s>[INST] {fragment(rng)} [/INST] {fragment(rng)}</s>")
    for _ in range(30):
        c.append(f">>QUESTION<<{fragment(rng)}\n>>ANSWER<<{rng.choice(['', ' '])}{fragment(rng)}<|endoftext|>")

    # 8. Random mixtures.
    for _ in range(520):
        parts = [fragment(rng) for _ in range(rng.randint(2, 4))]
        seps = [rng.choice(["", " ", " ", "\n", "\t", "  ", "\r\n", "\u00a0"]) for _ in parts]
        c.append("".join(p + s for p, s in zip(parts, seps)).rstrip(" ") if rng.random() < 0.5 else
                 "".join(s + p for p, s in zip(parts, seps)))

    # 9. Long strings (a few).
    c += [
        "a" * 500,
        "ab" * 200,
        "Supercalifragilisticexpialidocious" * 8,
        "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
        "pneumonoultramicroscopicsilicovolcanoconiosis " * 5,
        "".join(str(i % 10) for i in range(600)),
        "1" * 301,
        " " * 300 + "x",
        "\n" * 200,
        "\t" * 100 + "end",
        "😀" * 100,
        "中文字符" * 60,
        "ـ" * 80,
        "-" * 120 + "\n" + "=" * 120,
        "https://example.com/" + "/".join(rng.choice(WORDS).lower() for _ in range(30)) + "?q=" + "x" * 40,
        "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(400)) + "==",
        "\u0301" * 50,
        "a\u0301" * 60,
        "🇸🇪" * 40,
        "👨‍👩‍👧‍👦" * 30,
        "\n".join(py_snippet(rng) for _ in range(4)),
        "\n".join(c_snippet(rng) for _ in range(4)),
    ]

    # Fixed order, but shuffle the generated middle so neighbouring lines differ in kind.
    seen, out = set(), []
    for s in c:
        if s not in seen:
            seen.add(s)
            out.append(s)
    head, rest = out[:40], out[40:]
    rng.shuffle(rest)
    return head + rest


def training_text():
    """Deterministic text to train the falcon_style BPE on (not the corpus itself)."""
    rng = random.Random(TRAIN_SEED)
    pools = [EN] * 6 + [SV, ES, CA, ZH, AR, OTHER]
    for _ in range(6000):
        k = rng.randrange(10)
        if k <= 4:
            yield prose(rng, rng.choice(pools), 4)
        elif k == 5:
            yield py_snippet(rng)
        elif k == 6:
            yield c_snippet(rng)
        elif k == 7:
            yield " ".join(number_string(rng) for _ in range(rng.randint(1, 6)))
        elif k == 8:
            yield " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 20)))
        else:
            yield "".join(fragment(rng) + rng.choice([" ", "\n", ""]) for _ in range(rng.randint(2, 6)))


# --------------------------------------------------------------------------
# The falcon_style tokenizer.
# --------------------------------------------------------------------------


def falcon_pipeline(tokenizer):
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Punctuation(behavior="contiguous"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.Split(Regex("[0-9][0-9][0-9]"), behavior="isolated", invert=False),
        ]
    )
    tokenizer.post_processor = None
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)


def train_falcon_style(out_dir: Path):
    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    falcon_pipeline(tokenizer)
    trainer = trainers.BpeTrainer(
        vocab_size=FALCON_VOCAB,
        min_frequency=2,
        show_progress=False,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in FALCON_SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(training_text(), trainer=trainer)
    falcon_pipeline(tokenizer)  # training keeps them, but be explicit about the saved pipeline
    for i, t in enumerate(FALCON_SPECIAL):
        assert tokenizer.token_to_id(t) == i, (t, tokenizer.token_to_id(t))
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"), pretty=True)
    config = {
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 2048,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    with open(out_dir / "tokenizer_config.json", "w", encoding="utf-8", newline="\n") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"falcon_style: vocab {tokenizer.get_vocab_size()}, wrote {out_dir}")


# --------------------------------------------------------------------------
# Expected outputs and cross-checks.
# --------------------------------------------------------------------------


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def expected_rows(tok, corpus):
    rows = []
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        rows.append(
            {
                "ids": ids,
                "ids_special": ids_special,
                "decoded": tok.decode(ids_special, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids_special, skip_special_tokens=True),
            }
        )
    return rows


def check_transformers(name, tok_dir, corpus, rows):
    """PreTrainedTokenizerFast on the same file must agree everywhere; AutoTokenizer is reported."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_file=str(tok_dir / "tokenizer.json"))
    for text, row in zip(corpus, rows):
        got = {
            "ids": fast(text, add_special_tokens=False)["input_ids"],
            "ids_special": fast(text, add_special_tokens=True)["input_ids"],
        }
        got["decoded"] = fast.decode(row["ids_special"], skip_special_tokens=False)
        got["decoded_skip"] = fast.decode(row["ids_special"], skip_special_tokens=True)
        for key, value in got.items():
            if value != row[key]:
                sys.exit(f"{name}: transformers PreTrainedTokenizerFast differs on {key} for {text!r}:\n"
                         f"  transformers {value!r}\n  tokenizers   {row[key]!r}")

    auto = AutoTokenizer.from_pretrained(str(tok_dir))
    diffs = []
    for i, (text, row) in enumerate(zip(corpus, rows)):
        a_ids = auto(text, add_special_tokens=False)["input_ids"]
        a_sp = auto(text, add_special_tokens=True)["input_ids"]
        a_dec = auto.decode(row["ids_special"], skip_special_tokens=False)
        a_skip = auto.decode(row["ids_special"], skip_special_tokens=True)
        bad = [k for k, v in (("ids", a_ids), ("ids_special", a_sp), ("decoded", a_dec), ("decoded_skip", a_skip))
               if v != row[k]]
        if bad:
            diffs.append((i, text, bad, a_ids))
    cls = type(auto).__name__
    print(f"{name}: AutoTokenizer ({cls}) differs from tokenizer.json on {len(diffs)}/{len(corpus)} lines")
    for i, text, bad, a_ids in diffs[:8]:
        print(f"    line {i + 1}: {text[:60]!r} fields {bad}; auto ids {a_ids[:12]} vs {rows[i]['ids'][:12]}")
    if name == "falcon_style" and diffs:
        sys.exit("falcon_style: AutoTokenizer must load tokenizer.json verbatim (PreTrainedTokenizerFast)")


def check_sentencepiece(corpus, rows):
    try:
        import sentencepiece
    except ImportError:
        print("llama2: sentencepiece not installed; skipping the SentencePiece comparison")
        return
    if not os.environ.get("LLMPI_LLAMA2_TOKENIZER") or not LLAMA2_SPM.is_file():
        print("llama2: LLMPI_LLAMA2_TOKENIZER does not name a tokenizer.model; "
              "skipping the SentencePiece comparison")
        return
    sp = sentencepiece.SentencePieceProcessor(model_file=str(LLAMA2_SPM))
    specials = ("<s>", "</s>", "<unk>")
    n, diffs = 0, []
    for i, (text, row) in enumerate(zip(corpus, rows)):
        if any(s in text for s in specials):
            continue  # SentencePiece does not parse special tokens in text
        n += 1
        if sp.encode(text) != row["ids"]:
            diffs.append(i)
    print(f"llama2: SentencePiece differs from tokenizer.json on {len(diffs)}/{n} lines without <s>/</s>/<unk>")
    for i in diffs[:8]:
        print(f"    line {i + 1}: {corpus[i][:60]!r}: spm {sp.encode(corpus[i])[:12]} vs {rows[i]['ids'][:12]}")


def write_lines(path: Path, lines):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(data)
    print(f"wrote {path.relative_to(REPO)} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write tests/fixtures/tokenizers/")
    ap.add_argument("--only", nargs="*", choices=sorted(TOKENIZERS), help="only these expected files")
    ap.add_argument("--skip-transformers", action="store_true", help="skip the transformers cross-checks")
    args = ap.parse_args(argv)
    print(f"tokenizers {tokenizers.__version__}")

    OUT.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus()
    write_lines(OUT / "corpus.jsonl", (dumps({"text": t}) for t in corpus))
    print(f"corpus: {len(corpus)} strings")

    train_falcon_style(TOKENIZERS["falcon_style"])

    names = args.only or list(TOKENIZERS)
    missing = [n for n in names if not (TOKENIZERS[n] / "tokenizer.json").is_file()]
    if missing:
        hints = {"llama2": "scripts/fetch_tokenizers.sh", "smollm2": "scripts/fetch_smollm2.sh"}
        sys.exit("missing tokenizer.json for " + ", ".join(f"{n} (run {hints.get(n)})" for n in missing))
    for name in names:
        tok = Tokenizer.from_file(str(TOKENIZERS[name] / "tokenizer.json"))
        rows = expected_rows(tok, corpus)
        write_lines(OUT / f"{name}.expected.jsonl", (dumps(r) for r in rows))
        if not args.skip_transformers:
            check_transformers(name, TOKENIZERS[name], corpus, rows)
        if name == "llama2":
            check_sentencepiece(corpus, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
