#!/usr/bin/env python3
r"""Write the GPT-SW3 tokenizer fixtures: a tiny SentencePiece model set up like GPT-SW3's, and
what Hugging Face's GPTSw3Tokenizer makes of a corpus of strings with it.

  tests/fixtures/tokenizers/gpt_sw3/tokenizer.model, tokenizer_config.json
      A 3,000-piece SentencePiece BPE model trained here on text this script generates, and a
      tokenizer_config.json shaped like the published GPT-SW3 ones.
  tests/fixtures/tokenizers/gpt_sw3.expected.jsonl
      One line per corpus string (build_corpus(): Swedish, Norwegian, Danish, Icelandic and
      English prose, C++/Python/shell code, odd whitespace, characters GPT-SW3 strips,
      decomposed and precomposed accents, emoji, CJK, special tokens in text, ...):
        {"text": ..., "ids": tokenizer(text, add_special_tokens=False).input_ids,
         "ids_special": tokenizer(text).input_ids (add_special_tokens=True),
         "decoded": decode(ids_special), "decoded_skip": decode(ids_special,
         skip_special_tokens=True)}
  tests/fixtures/tokenizers/gpt_sw3_decode.expected.jsonl
      Decoding alone of id lists no text gives: random ids, runs of special tokens, byte
      pieces that do not form UTF-8. {"ids": ..., "decoded": ..., "decoded_skip": ...}
  tests/fixtures/tokenizers/gpt_sw3_variants.expected.json
      The same model under other configs (clean_up_tokenization_spaces, split_special_tokens,
      special_tokens_map.json, added_tokens_decoder, extra special tokens, gpt-sw3-7b's
      defaults, the class named in config.json only), each with the files to write and the
      expected rows for VARIANT_TEXTS and a sample of the corpus.

Everything comes from transformers' AutoTokenizer.from_pretrained(<dir>), which must return a
GPTSw3Tokenizer (checked).

SentencePiece settings, by how sure they are:
  known   BPE (the GPT-SW3 tokenizer paper, arXiv:2304.14780: SentencePiece, BPE); the text
          clean-up and NFC done outside SentencePiece (GPTSw3Tokenizer.preprocess_text, "identical
          to what was used when training the tokenizer"), hence identity normalisation here;
          the special tokens <pad>, <unk>, <s>, <|endoftext|> (GPTSw3Tokenizer's defaults).
  recalled, not verified here: byte fallback, split digits, a 64,000-piece vocabulary (3,000
          here), ids 0..3 = <pad>, <unk>, <s>, <|endoftext|> (config.json's pad/bos/eos ids),
          the keys of the published tokenizer_config.json (CONFIG).
  guessed add_dummy_prefix off, remove_extra_whitespaces off, whitespace-only pieces allowed,
          character_coverage 0.9999, the special tokens being control symbols (not
          user-defined), the other trainer defaults.
llmpi runs the checkpoint's own model file through libsentencepiece, so these choices only
decide what the fixture exercises.

Also checked: the NFC tables compiled into llmpi (src/tokenizer/unicode_nfc_table.inc) are of
the Unicode version this Python's unicodedata has, the one GPTSw3Tokenizer normalises with.

Deterministic: fixed seeds, single-threaded training, fixed output order. The checked-in files
were produced with transformers 5.24.0, sentencepiece 0.2.3, protobuf 7.36.2, Python 3.11.7
(Unicode 14.0.0). JSON lines are compact UTF-8 (json.dumps with ensure_ascii=False).

Usage: scripts/make_gpt_sw3_tokenizer_fixture.sh (or this file with a Python that has
transformers and sentencepiece).
"""

import hashlib
import io
import json
import random
import re
import shutil
import sys
import tempfile
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "tokenizers"
MODEL_DIR = OUT / "gpt_sw3"
NFC_TABLE = REPO / "src" / "tokenizer" / "unicode_nfc_table.inc"
CORPUS_SEED = 20260315
TRAIN_SEED = 11
DECODE_SEED = 5
VOCAB_SIZE = 3000

SPECIAL = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "<|endoftext|>"}

# Shaped like the published GPT-SW3 tokenizer_config.json as recalled (not checked against
# one here): the class, the four special tokens, and GPTSw3Tokenizer's own options.
CONFIG = {
    "bos_token": "<s>",
    "do_lower_case": False,
    "eos_token": "<|endoftext|>",
    "keep_accents": True,
    "model_max_length": 2048,
    "pad_token": "<pad>",
    "remove_space": False,
    "tokenizer_class": "GPTSw3Tokenizer",
    "unk_token": "<unk>",
}

# --------------------------------------------------------------------------------------------
# Text material (written for this file).
# --------------------------------------------------------------------------------------------

SV = [
    "Vi åkte till skärgården i juli och badade varje morgon.",
    "Kan du räcka mig smöret, tack?",
    "Mormor bakade kanelbullar medan vi spelade kort i köket.",
    "Tåget från Malmö var försenat i nästan fyrtio minuter.",
    "Det regnade hela helgen, men vi hade roligt ändå.",
    "Hur många älgar tror du att det finns i Norrland?",
    "Jag glömde paraplyet på bussen igen.",
    "Företaget anställde tre nya utvecklare i höstas.",
    "Sjön frös till redan i början av november.",
    "Barnen sprang ut på ängen för att plocka blåbär.",
    "Midsommarafton firas med sill, potatis och jordgubbar.",
    "Kommunen planerar att bygga en ny skola vid ån.",
    "Min bror är lärare i fysik på ett gymnasium i Umeå.",
    "Varför är kaffet alltid slut när man behöver det som mest?",
    "Hon cyklade över bron fast det blåste kraftigt.",
    "Öppettiderna ändras från och med måndag den 3 mars.",
    "Priset höjdes med 15 procent efter årsskiftet.",
    "Lägg till två deciliter mjölk och rör om försiktigt.",
    "Riksdagen röstade igenom förslaget med knapp marginal.",
    "I Kiruna är det midnattssol i flera veckor varje sommar.",
    "Någon hade lämnat en gammal cykel utanför porten.",
    "Vi måste boka biljetterna innan fredag.",
    "Översättningen var förvånansvärt bra, nästan felfri.",
    "Glöm inte att släcka ljuset när du går.",
    "Hunden skällde på brevbäraren varje dag klockan tio.",
    "Räksmörgås är en klassisk svensk lunch.",
    "Det är svårt att uttala sju sjösjuka sjömän.",
    "Stockholms tunnelbana kallas ibland världens längsta konstutställning.",
    "Efter mötet gick alla hem utom projektledaren.",
    "Ärligt talat förstår jag inte varför du är så arg.",
    "Svenska är kul!",
    "Träd är fina för att de ger skugga på sommaren.",
]
NO = [
    "Vi gikk på tur i fjellet hele helgen.",
    "Kan du hjelpe meg med å bære disse eskene?",
    "Været i Bergen er som regel vått og vindfullt.",
    "Hun kjøpte ferske reker på brygga i morges.",
    "Bussen går hvert tiende minutt fra sentrum.",
    "Jeg har aldri sett nordlyset så sterkt som i går.",
    "Barna bygde en snøhule bak hytta.",
    "Møtet er flyttet til torsdag klokka ni.",
    "Det er dyrt å spise ute i Oslo.",
    "Fjorden lå blank og stille i solnedgangen.",
    "Kommer du på bursdagsfesten på lørdag?",
    "Vi må huske å ta med matpakke og termos.",
    "Bestefar fortalte historier fra da han var fisker.",
    "Skiløypene var nypreparerte og helt perfekte.",
    "Hvor mye koster en kopp kaffe her?",
    "Regjeringen la fram statsbudsjettet i oktober.",
    "Gutten løp så fort han kunne for å rekke toget.",
    "Det blir sol og opptil tjue grader i morgen.",
    "Hun jobber som sykepleier på sykehuset i Tromsø.",
    "Vi spiste brunost på vafler etter skituren.",
    "Eg veit ikkje kva du meiner med det.",
    "Kvar har du gøymt nøklane mine?",
    "Han har budd på Svalbard i over ti år.",
    "Ingen visste hvem som hadde spist det siste kakestykket.",
    "Kjøleskapet er tomt, så vi må handle.",
    "Laksen ble grillet med sitron og dill.",
    "Øyene utenfor kysten er bare tilgjengelige med båt.",
    "Jeg glemte passordet mitt for tredje gang denne uka.",
]
DA = [
    "Vi cyklede langs stranden hele eftermiddagen.",
    "Må jeg bede om en kop te med mælk?",
    "Det blæser altid på vestkysten af Jylland.",
    "Børnene legede i haven, indtil det blev mørkt.",
    "Rødgrød med fløde er svært at udtale for udlændinge.",
    "Toget til København holder ved alle stationer.",
    "Hun har arbejdet som arkitekt i tyve år.",
    "Vi spiste smørrebrød med sild og æg til frokost.",
    "Hvornår åbner butikken i morgen?",
    "Mødet blev aflyst på grund af sne.",
    "Han købte en gammel træbåd og satte den i stand.",
    "Det er hyggeligt at sidde ved pejsen om vinteren.",
    "Jeg forstår ikke helt, hvad du mener.",
    "Kommunen vil plante tusind træer i parken.",
    "Der var kø ved kassen i over en halv time.",
    "Ærøskøbing er en lille by med brostensbelagte gader.",
    "Min søster flyttede til Aarhus sidste sommer.",
    "Bageren sælger de bedste wienerbrød i hele byen.",
    "Husk at slukke for ovnen, når kagen er færdig.",
    "Øresundsbroen forbinder Danmark og Sverige.",
    "Vejret skifter hurtigt her ved kysten.",
    "Jeg har glemt min paraply på kontoret.",
    "De fleste københavnere cykler til arbejde.",
    "Hvad koster en billet til Tivoli?",
    "Farfar fiskede ål i fjorden, da han var ung.",
    "Skolen holder lukket i efterårsferien.",
]
IS = [
    "Við fórum í sund í Laugardalslaug í morgun.",
    "Veðrið á Íslandi getur breyst mjög hratt.",
    "Hún býr í litlu húsi nálægt höfninni í Reykjavík.",
    "Geturðu hjálpað mér að finna strætóstoppistöðina?",
    "Eldgosið sást greinilega frá þjóðveginum.",
    "Ég borðaði plokkfisk og rúgbrauð í hádeginu.",
    "Hestarnir hlupu yfir túnið í rigningunni.",
    "Jöklarnir eru að bráðna hraðar en áður.",
    "Þetta er í fyrsta skipti sem ég sé norðurljós.",
    "Bókasafnið er opið til klukkan sjö á kvöldin.",
    "Hvað kostar flugið til Akureyrar?",
    "Börnin léku sér í snjónum allan daginn.",
    "Fjallið var hulið þoku þegar við komum.",
    "Amma mín prjónaði lopapeysu handa mér.",
    "Sólin sest varla á sumrin á Norðurlandi.",
    "Þau keyptu sér nýjan bíl í síðustu viku.",
    "Ég skil ekki alveg hvað þú átt við.",
    "Lundinn verpir í björgunum við ströndina.",
    "Fundurinn hefst klukkan tíu á þriðjudaginn.",
    "Heita vatnið kemur beint úr jörðinni.",
    "Þórður og Þóra fóru saman á tónleika í Hörpu.",
    "Æðarfuglinn er algengur við strendur landsins.",
]
EN = [
    "The library closes early on public holidays.",
    "Could you send me the slides before the meeting?",
    "A sudden gust of wind knocked the sign over.",
    "We measured the temperature every hour for three days.",
    "Her grandfather sailed from Gothenburg to New York in 1923.",
    "The recipe calls for 250 g of butter and 3 eggs.",
    "Nobody expected the match to end in a draw.",
    "Please restart the server after installing the update.",
    "It's been raining since Tuesday, and the river is rising.",
    "The museum's new wing houses Viking Age artefacts.",
    "I can't find my keys; have you seen them anywhere?",
    "The train to Oslo departs from platform 4 at 07:45.",
    "Most of the forest is spruce, pine and birch.",
    "They've already signed the contract, haven't they?",
    "The report was 120 pages long and full of tables.",
    "He whispered, \"Don't wake the baby.\"",
    "Prices rose by 3.5% in the last quarter.",
    "Our cat sleeps on the radiator all winter.",
    "The northern lights were visible as far south as Copenhagen.",
    "Can you explain how the tokenizer handles emoji?",
    "She studied linguistics in Uppsala and Reykjavík.",
    "The bridge was closed for repairs until further notice.",
    "Add salt to taste, then simmer for twenty minutes.",
    "I'd rather walk than wait forty minutes for the bus.",
    "The results are summarised in Table 2 (see appendix).",
    "Fishing boats returned to the harbour before the storm.",
    "What's the difference between a fjord and a bay ?",
    "The software is released under an open-source licence .",
    "We'll meet at the café on the corner at half past two.",
    "Every model makes mistakes ; the question is how often !",
]
# Subject, verb, object, ending: recombined into many more sentences per language.
FRAMES = {
    "sv": (["Jag", "Du", "Hon", "Han", "Vi", "Ni", "De", "Min granne", "Läraren", "Kocken"],
           ["läser", "köper", "målar", "lagar", "hittar", "säljer", "letar efter", "tittar på"],
           ["en bok", "ett äpple", "den röda stugan", "två cyklar", "gamla kartor", "färskt bröd", "ett brev",
            "några böcker"],
           ["i dag.", "på lördag.", "vid sjön.", "i Göteborg.", "efter jobbet.", "på morgonen.", "i år.",
            "hemma hos mormor."]),
    "no": (["Jeg", "Du", "Hun", "Han", "Vi", "Dere", "De", "Naboen", "Læreren", "Kokken"],
           ["leser", "kjøper", "maler", "lager", "finner", "selger", "leter etter", "ser på"],
           ["en bok", "et eple", "den røde hytta", "to sykler", "gamle kart", "ferskt brød", "et brev",
            "noen bøker"],
           ["i dag.", "på lørdag.", "ved sjøen.", "i Trondheim.", "etter jobben.", "om morgenen.", "i år.",
            "hos bestemor."]),
    "da": (["Jeg", "Du", "Hun", "Han", "Vi", "I", "De", "Naboen", "Læreren", "Kokken"],
           ["læser", "køber", "maler", "laver", "finder", "sælger", "leder efter", "kigger på"],
           ["en bog", "et æble", "det røde hus", "to cykler", "gamle kort", "frisk brød", "et brev",
            "nogle bøger"],
           ["i dag.", "på lørdag.", "ved søen.", "i Odense.", "efter arbejde.", "om morgenen.", "i år.",
            "hos mormor."]),
    "is": (["Hún", "Hann", "Nágranninn", "Kennarinn", "Kokkurinn", "Amma mín", "Stelpan", "Strákurinn"],
           ["les", "kaupir", "málar", "finnur", "selur", "skoðar", "horfir á", "sækir"],
           ["bókina", "eplið", "rauða húsið", "tvö hjól", "gömul kort", "nýtt brauð", "bréfið",
            "nokkrar bækur"],
           ["í dag.", "á laugardaginn.", "við vatnið.", "á Ísafirði.", "eftir vinnu.", "á morgnana.", "í ár.",
            "hjá ömmu."]),
    "en": (["I", "You", "She", "He", "We", "They", "My neighbour", "The teacher", "The chef", "Our guide"],
           ["read", "bought", "painted", "fixed", "found", "sold", "looked for", "photographed"],
           ["a book", "an apple", "the red cabin", "two bicycles", "old maps", "fresh bread", "a letter",
            "some records"],
           ["today.", "on Saturday.", "by the lake.", "in Bergen.", "after work.", "in the morning.",
            "this year.", "at grandma's."]),
}
PROSE = {"sv": SV, "no": NO, "da": DA, "is": IS, "en": EN}

CJK = [
    "今天天气很好，我们去湖边散步吧。",
    "斯德哥尔摩是瑞典的首都。",
    "这个模型能理解北欧语言吗？",
    "東京の冬は晴れの日が多いです。",
    "ノルウェーのフィヨルドはとても美しい。",
    "ひらがなとカタカナと漢字を使います。",
    "서울은 한국의 수도입니다.",
    "오늘 회의는 세 시에 시작해요.",
    "全角の数字１２３と半角の123。",
    "漢字　と　全角スペース",
]
OTHER_SCRIPTS = [
    "Привет, как дела?",
    "Καλημέρα σας!",
    "שלום עולם",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Sámegiella: Buorre beaivi!",
    "Føroyskt: Góðan dag!",
    "Suomi: Hyvää huomenta, mitä kuuluu?",
    "Tiếng Việt: Xin chào thế giới.",
    "Zażółć gęślą jaźń.",
]
EMOJI = [
    "😀", "😂", "🥲", "🤖", "🚀", "🎉", "🔥", "💯", "🙏", "👀", "🧠", "🦀", "🐍", "☕", "⭐", "✅", "❌", "⚠️",
    "❤️", "❤", "☺️", "✌️", "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "🧑🏿‍💻", "👩🏽‍🔬", "👨‍🍳", "🤷‍♀️",
    "🙋🏻‍♂️", "👨‍👩‍👧‍👦", "👩‍❤️‍💋‍👨", "🧑‍🤝‍🧑", "🫱🏼‍🫲🏾", "🏳️‍🌈", "🏴‍☠️", "🇸🇪", "🇳🇴", "🇩🇰", "🇮🇸",
    "🇫🇮", "🇬🇧", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "1️⃣", "#️⃣", "*️⃣", "©️", "™️",
]
# What GPTSw3Tokenizer removes, maps to ' ', or leaves (plus neighbours of each).
REMOVED = [chr(c) for c in list(range(0, 9)) + list(range(11, 32)) + list(range(127, 161)) + [0xAD, 0x200B]]
TO_SPACE = ["\u2002", "\u2003", "\u2005", "\u2008", "\u2009", "\u200a", "\u202f", "\u3000", "\ufffc", "\u0084"]
KEPT_SPACES = ["\t", "\n", " ", "  ", "\u2000", "\u2001", "\u2004", "\u2006", "\u2007", "\u205f", "\u1680",
               "\u2028", "\u2029", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e"]
ODD_WHITESPACE = ["\t", "\n", "\r\n", "\r", "  ", "   ", "\t\t", "\n\n", " \n ", "\u00a0", "\u00a0\u00a0"] + \
    TO_SPACE + KEPT_SPACES + ["\u200b", "\u00ad", "\x0b", "\x0c", "\x85", "\x1c"]
# Accents both ways, marks out of canonical order, singletons, exclusions, Hangul jamo.
COMBINING = [
    "a\u030a", "A\u030a", "o\u0308", "O\u0308", "a\u0308", "e\u0301", "u\u0308", "\u00e5", "\u00c5", "\u212b",
    "\u2126", "A\u030a\u0301", "\u01fa", "a\u0323\u0302", "a\u0302\u0323", "\u1ead", "o\u0328\u0304",
    "o\u0304\u0328", "d\u0307\u0323", "\u1e0b\u0323", "s\u0323\u0307", "\u0958", "\u0915\u093c", "\u0344",
    "\u0340", "\u0343", "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8", "\u1112\u1175\u11ab", "\uf900",
    "\u2000", "\u2001", "\u0301", "\u0301a", "e\u0301\u0301", "\u0d4a", "\u0d46\u0d3e", "\u0b47\u0b3e",
    "\U0001d15e", "\U0001d157\U0001d165", "\u0387", "\u037e", "\u1f71", "\u03ac", "i\u0307", "\u0130",
    "\u0041\u0300\u0301\u0302\u0303\u0304", "n\u0303", "c\u0327", "\u00e7\u0301", "\u1e09", "\u05e9\u05c1\u05b8",
    "\u0627\u0653", "\u3071", "\u306f\u309a", "\u30d1", "\u30cf\u309a", "\u0e4d\u0e32",
]
SPECIAL_IN_TEXT = ["<s>", "</s>", "<|endoftext|>", "<pad>", "<unk>"]
BROKEN_SPECIAL = ["<s", "s>", "< s>", "<s >", "<S>", "<<s>>", "<s><s>", "<|endoftext|", "|endoftext|>",
                  "<|endoftext|>>", "<<|endoftext|>", "<|end of text|>", "<pa d>", "<unk", "<\u200bs>",
                  "<|endo\u00adftext|>", "<p\u200bad>", "<\u00a0s>", "<s\u0301>", "\u0301<s>", "<s>\u0301",
                  "<unk>\u0308", "<|endoftext|>\u200b"]


def frame_sentence(rng, lang):
    subjects, verbs, objects, endings = FRAMES[lang]
    return f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} {rng.choice(endings)}"


def prose(rng, max_sentences=3):
    lang = rng.choice(list(PROSE))
    parts = []
    for _ in range(rng.randint(1, max_sentences)):
        parts.append(rng.choice(PROSE[lang]) if rng.random() < 0.6 else frame_sentence(rng, lang))
    return " ".join(parts)


def number_string(rng):
    kinds = [
        lambda: str(rng.randint(0, 10 ** rng.randint(1, 9))),
        lambda: f"{rng.randint(1, 28)} {rng.choice(['januari', 'mars', 'maj', 'augusti', 'oktober'])} {rng.randint(1900, 2030)}",
        lambda: f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.{rng.randint(1990, 2030)}",
        lambda: f"kl. {rng.randint(0, 23):02d}.{rng.randint(0, 59):02d}",
        lambda: f"{rng.randint(1, 9999):,}".replace(",", " ") + f",{rng.randint(0, 99):02d} kr",
        lambda: f"+46 {rng.randint(70, 79)}-{rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        lambda: f"{rng.uniform(-100, 100):.{rng.randint(0, 4)}f}",
        lambda: f"{rng.randint(1, 100)}%",
        lambda: f"ISBN 978-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}-{rng.randint(100, 999)}-{rng.randint(0, 9)}",
        lambda: f"{rng.randint(1, 9)}e{rng.randint(-9, 9)}",
    ]
    return rng.choice(kinds)()


NAMES = ["count", "total", "idx", "buf", "node", "value", "result", "tmp", "data", "items", "x", "y", "matrix",
         "tokens", "width", "height", "name", "path", "user_id", "MAX_LEN", "ctx", "ptr", "len", "år", "smörgås"]


def cpp_snippet(rng):
    a, b, c = rng.sample(NAMES[:-2], 3)
    ind = rng.choice(["  ", "    ", "\t"])
    n = rng.randint(0, 10 ** rng.randint(1, 5))
    bodies = [
        [f"#include <vector>", "", f"int {a}(const std::vector<int>& {b}) {{", f"{ind}int {c} = 0;",
         f"{ind}for (int v : {b}) {c} += v * {n};", f"{ind}return {c};", "}"],
        [f"template <typename T>", f"struct {a.title()} {{", f"{ind}T {b}{{}};",
         f"{ind}bool operator==(const {a.title()}&) const = default;", "};"],
        [f"auto {a} = std::make_unique<std::string>(\"{b}\");", f"if (!{a}->empty() && {c} != nullptr) {{",
         f"{ind}std::cout << *{a} << '\\n';", "}"],
        [f"// {prose(rng, 1)}", f"constexpr std::size_t k{a.title()} = {n}u;",
         f"static_assert(k{a.title()} < (1u << 20), \"too big\");"],
        [f"for (std::size_t i = 0; i < {b}.size(); ++i) {{", f"{ind}{c}[i] = {b}[i] >> {rng.randint(1, 7)};",
         "}"],
    ]
    return rng.choice(["\n", "\n", "\r\n"]).join(rng.choice(bodies))


def python_snippet(rng):
    a, b, c = rng.sample(NAMES, 3)
    ind = rng.choice(["    ", "  ", "\t"])
    n = rng.randint(0, 10 ** rng.randint(1, 5))
    bodies = [
        [f"def {a}_{b}({c}, n={n}):", f'{ind}"""Returnera {b} för {c}."""', f"{ind}if not {c}:",
         f"{ind}{ind}return None", f"{ind}return [{c} * i for i in range(n)]"],
        [f"class {a.title()}:", f"{ind}def __init__(self, {c}):", f"{ind}{ind}self.{c} = {c}"],
        [f"{a} = {{k: v for k, v in enumerate({b}) if v % 2 == 0}}", f"print({a}, sep='\\t', end='\\n')"],
        [f"with open('{a}.txt', encoding='utf-8') as f:", f"{ind}for line in f:",
         f"{ind}{ind}{b}.append(line.rstrip())"],
        [f"try:", f"{ind}{a} = int({b}) / {n}", "except ValueError as e:",
         f"{ind}raise RuntimeError(f'fel: {{e!s}}') from e"],
        [f"# {prose(rng, 1)}", f"{a} = \"{prose(rng, 1)}\"", f"assert len({a}) > {rng.randint(0, 20)}"],
    ]
    return "\n".join(rng.choice(bodies)) + rng.choice(["", "\n"])


def shell_snippet(rng):
    a, b = rng.sample(NAMES[:-2], 2)
    lines = [
        [f"#!/usr/bin/env bash", "set -euo pipefail", f"for f in *.{a}; do", f'  echo "$f" >> {b}.log', "done"],
        [f"export {a.upper()}=\"${{{b.upper()}:-/tmp}}\"", f"ls -la \"${a.upper()}\" | grep -c '^d'"],
        [f"cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j{rng.randint(1, 16)}"],
        [f"if [[ -f {a}.txt ]]; then", f"  wc -l < {a}.txt", "else", f"  echo 'saknas: {a}.txt' >&2",
         "fi"],
        [f"find . -name '*.{a}' -print0 | xargs -0 sed -i 's/{a}/{b}/g'"],
        [f"curl -sS https://example.se/api/{a}?id={rng.randint(1, 999)} | jq '.{b}'"],
    ]
    return "\n".join(rng.choice(lines))


def random_codepoints(rng, n):
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x1100, 0x11FF),
              (0x1E00, 0x1FFF), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
              (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFB00, 0xFDFF), (0xFE00, 0xFFFF), (0x1D100, 0x1D1FF),
              (0x1F300, 0x1FAFF), (0x20000, 0x2A6DF), (0xE0000, 0xE007F), (0xF0000, 0xF00FF), (0x0, 0x1F)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def sprinkle(rng, text, pool, rate=0.15):
    """Text with characters from `pool` inserted at some word boundaries and inside words."""
    out = []
    for ch in text:
        if rng.random() < rate / 4:
            out.append(rng.choice(pool))
        out.append(ch)
        if ch == " " and rng.random() < rate:
            out.append(rng.choice(pool))
    return "".join(out)


def mix_normal_forms(rng, text):
    """Each word in NFD or NFC at random (the accents of decomposed text must come back whole)."""
    return " ".join(unicodedata.normalize(rng.choice(["NFC", "NFD", "NFD"]), word) for word in text.split(" "))


def fragment(rng):
    k = rng.randrange(10)
    if k < 4:
        return prose(rng, 1)
    if k == 4:
        return number_string(rng)
    if k == 5:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3)))
    if k == 6:
        return rng.choice(CJK + OTHER_SCRIPTS)
    if k == 7:
        return "".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 3)))
    if k == 8:
        return rng.choice(SPECIAL_IN_TEXT + BROKEN_SPECIAL)
    return rng.choice(ODD_WHITESPACE)


def build_corpus():
    rng = random.Random(CORPUS_SEED)
    c = []

    # 1. Empty, one-character and tiny strings, every character GPT-SW3 strips or maps.
    c += ["", " ", "a", "å", "Å", "ä", "ö", "ø", "æ", "ð", "þ", "\n", "\t", "\r", "\r\n", "0", "9", "!", ".",
          "  ", "   ", "\n\n", " a", "a ", "ab", "12", "123456", "😀", "中", "é", "e\u0301"]
    c += REMOVED + [ch + "a" for ch in REMOVED[::3]] + ["a" + ch + "b" for ch in REMOVED[1::3]]
    c += TO_SPACE + [f"a{ch}b" for ch in TO_SPACE] + [f"{ch}{ch}" for ch in TO_SPACE]
    c += KEPT_SPACES + [f"a{ch}b" for ch in KEPT_SPACES]
    c += SPECIAL_IN_TEXT + BROKEN_SPECIAL + COMBINING + EMOJI + CJK + OTHER_SCRIPTS

    # 2. Prose in the five languages: the sentences as written, and recombined.
    for lang, sentences in PROSE.items():
        c += sentences
        c += [frame_sentence(rng, lang) for _ in range(70)]
    c += [prose(rng, 4) for _ in range(200)]
    c += [prose(rng, 2).upper() for _ in range(20)]
    c += [prose(rng, 2).lower() for _ in range(20)]

    # 3. Numbers, dates, prices.
    c += [number_string(rng) for _ in range(80)]
    c += [f"{prose(rng, 1)[:-1]} {number_string(rng)}{rng.choice(['.', '!', '', ' '])}" for _ in range(60)]

    # 4. Code.
    c += [cpp_snippet(rng) for _ in range(70)]
    c += [python_snippet(rng) for _ in range(70)]
    c += [shell_snippet(rng) for _ in range(50)]

    # 5. Odd whitespace, stripped and mapped characters, runs of spaces.
    c += [sprinkle(rng, prose(rng, 2), ODD_WHITESPACE) for _ in range(120)]
    c += [sprinkle(rng, prose(rng, 1), REMOVED + TO_SPACE, 0.3) for _ in range(80)]
    c += ["".join(rng.choice(ODD_WHITESPACE + REMOVED) for _ in range(rng.randint(1, 8))) for _ in range(60)]
    c += [rng.choice(ODD_WHITESPACE).join(prose(rng, 1).split(" ")) for _ in range(40)]
    c += [" " * rng.randint(1, 12) + prose(rng, 1) + " " * rng.randint(0, 12) for _ in range(30)]

    # 6. Decomposed and precomposed accents.
    c += [unicodedata.normalize("NFD", s) for s in SV + NO + DA + IS]
    c += [mix_normal_forms(rng, prose(rng, 2)) for _ in range(80)]
    c += ["".join(rng.choice(COMBINING) for _ in range(rng.randint(1, 6))) for _ in range(60)]
    c += [sprinkle(rng, prose(rng, 1), ["\u0301", "\u0308", "\u030a", "\u0323", "\u0327", "\u0338"], 0.3)
          for _ in range(40)]

    # 7. Emoji, CJK, other scripts, random code points.
    c += ["".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 6))) for _ in range(50)]
    c += [f"{prose(rng, 1)} {rng.choice(EMOJI)}{rng.choice(['', ' ', '!'])}" for _ in range(50)]
    c += [rng.choice(CJK) + rng.choice(["", " ", "\u3000"]) + rng.choice(CJK) for _ in range(30)]
    c += [random_codepoints(rng, rng.randint(1, 20)) for _ in range(120)]

    # 8. Special tokens inside text.
    for _ in range(160):
        s = fragment(rng)
        for _ in range(rng.randint(1, 3)):
            token = rng.choice(SPECIAL_IN_TEXT * 3 + BROKEN_SPECIAL)
            s += rng.choice(["", " ", "\n", "  "]) + token + rng.choice(["", " ", "\n"]) + fragment(rng)
        c.append(s)
    c += [f"<s>{prose(rng, 1)}<|endoftext|>" for _ in range(20)]
    c += ["<|endoftext|><|endoftext|>", "<s><s>", "<pad><pad><pad>", "<unk><s></s><|endoftext|><pad>",
          " <s> ", "<s> ", " <s>", "a<s>", "<s>a", "<s> a", "a <s>", "<|endoftext|>\n<s>", "<|endoftext|>."]

    # 9. Random mixtures.
    for _ in range(300):
        parts = [fragment(rng) for _ in range(rng.randint(2, 4))]
        seps = [rng.choice(["", " ", " ", "\n", "\t", "  ", "\r\n", "\u00a0", "\u3000"]) for _ in parts]
        c.append("".join(p + s for p, s in zip(parts, seps)))

    # 10. A few long strings.
    c += [
        " ".join(rng.choice(SV + NO + DA + IS) for _ in range(12)),
        "\n\n".join(python_snippet(rng) for _ in range(3)),
        "a" * 300,
        "å" * 200,
        "a\u030a" * 100,
        "".join(str(i % 10) for i in range(400)),
        " " * 200 + "x",
        "\t" * 60 + "slut",
        "😀" * 60,
        "🇸🇪" * 30,
    ]

    seen, out = set(), []
    for s in c:
        if s not in seen:
            seen.add(s)
            out.append(s)
    head, rest = out[:60], out[60:]
    rng.shuffle(rest)
    return head + rest


def training_text():
    """Deterministic text for training the model: like the corpus, not the corpus itself."""
    rng = random.Random(TRAIN_SEED)
    for _ in range(12000):
        k = rng.randrange(12)
        if k <= 6:
            text = prose(rng, 4)
        elif k == 7:
            text = cpp_snippet(rng)
        elif k == 8:
            text = python_snippet(rng)
        elif k == 9:
            text = shell_snippet(rng)
        elif k == 10:
            text = " ".join(number_string(rng) for _ in range(rng.randint(1, 5)))
        else:
            text = " ".join(fragment(rng) for _ in range(rng.randint(2, 5)))
        # GPT-SW3's model was trained on text cleaned as GPTSw3Tokenizer cleans it; NFC is
        # what matters here (SentencePiece's own normalisation is off).
        yield unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------------------------
# The model, the config, and Hugging Face's answers.
# --------------------------------------------------------------------------------------------


def train_model():
    import sentencepiece as spm

    spm.set_random_generator_seed(TRAIN_SEED)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=training_text(),
        model_writer=model,
        model_type="bpe",
        vocab_size=VOCAB_SIZE,
        byte_fallback=True,
        normalization_rule_name="identity",
        split_digits=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        character_coverage=0.9999,
        pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        pad_piece=SPECIAL["pad"], unk_piece=SPECIAL["unk"], bos_piece=SPECIAL["bos"], eos_piece=SPECIAL["eos"],
        input_sentence_size=0,
        shuffle_input_sentence=False,
        max_sentence_length=16384,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def write_config(directory: Path, config, special_tokens_map=None, model_config=None):
    def dump(path, obj):
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            json.dump(obj, f, indent=2, ensure_ascii=False)
            f.write("\n")

    dump(directory / "tokenizer_config.json", config)
    if special_tokens_map is not None:
        dump(directory / "special_tokens_map.json", special_tokens_map)
    if model_config is not None:
        dump(directory / "config.json", model_config)


def load_hf(directory: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(directory))
    if type(tok).__name__ != "GPTSw3Tokenizer":
        sys.exit(f"{directory}: AutoTokenizer gave {type(tok).__name__}, not GPTSw3Tokenizer")
    return tok


def row(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    ids_special = tok(text)["input_ids"]
    return {
        "text": text,
        "ids": ids,
        "ids_special": ids_special,
        "decoded": tok.decode(ids_special, skip_special_tokens=False),
        "decoded_skip": tok.decode(ids_special, skip_special_tokens=True),
    }


def decode_cases(tok):
    rng = random.Random(DECODE_SEED)
    size = tok.vocab_size
    special = [tok.convert_tokens_to_ids(t) for t in SPECIAL.values()]
    byte_ids = [tok.convert_tokens_to_ids(f"<0x{b:02X}>") for b in range(256)]
    cases = [[], special, special[::-1], special * 2, [special[2], special[2]], [5, special[3], special[3], 5]]
    cases += [[rng.randrange(size) for _ in range(rng.randint(1, 30))] for _ in range(150)]
    cases += [[rng.choice(special + [rng.randrange(4, size)]) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    # Byte pieces: valid sequences, truncated ones, stray continuation bytes.
    cases += [[rng.choice(byte_ids) for _ in range(rng.randint(1, 8))] for _ in range(60)]
    for text in ["å", "€", "😀", "中"]:
        raw = [byte_ids[b] for b in text.encode("utf-8")]
        cases += [raw, raw[:-1], raw[1:], raw[:-1] + [rng.randrange(4, size)], [special[3]] + raw[:1] + [special[3]]]
    return [{"ids": ids, "decoded": tok.decode(ids), "decoded_skip": tok.decode(ids, skip_special_tokens=True)}
            for ids in cases]


VARIANT_TEXTS = [
    "", "Hej då !", "Vad sägs om det ?", "Jag tror inte det , tyvärr .", "It 's fine , isn 't it ?",
    "They 're here and we 've left ; I 'm sure he 's ok .", "don 't", "rock ' n ' roll", " . , ! ?",
    "<s>Hej<|endoftext|>", "<s><s> a </s>", "<pad>x<pad>", "<unk> <unk>", "a<|endoftext|>b<s>c<pad>d<unk>e",
    "<|endoftext|><|endoftext|>", "Tre\u00a0ord\u2009här.", "Där är bären.", "sälj<s>ärr", "a\u030a <s> o\u0308", "<\u200bs>", "😀<s>😀",
]


def tok_id(model_bytes, piece):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    assert sp.id_to_piece(sp.piece_to_id(piece)) == piece, piece
    return sp.piece_to_id(piece)


def variants(model_bytes, corpus):
    """Other configs of the same model: what they change, by Hugging Face."""
    rng = random.Random(CORPUS_SEED + 1)
    texts = VARIANT_TEXTS + rng.sample(corpus, 40)
    added_tokens_decoder = {
        str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": True}
        for i, t in enumerate(SPECIAL.values())
    }
    # A token of the vocabulary added as a plain (not special) added token: matched in the raw
    # text before SentencePiece sees it.
    piece = "är"
    added_tokens_decoder[str(tok_id(model_bytes, piece))] = {
        "content": piece, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": False}
    specs = [
        {"name": "clean_up_tokenization_spaces", "dir": "gpt_sw3",
         "tokenizer_config": {**CONFIG, "clean_up_tokenization_spaces": True}},
        {"name": "split_special_tokens", "dir": "gpt_sw3",
         "tokenizer_config": {**CONFIG, "split_special_tokens": True}},
        {"name": "added_tokens_decoder", "dir": "gpt_sw3",
         "tokenizer_config": {**CONFIG, "added_tokens_decoder": added_tokens_decoder}},
        # Defaults only, under gpt-sw3-7b's name: pad is <unk> and bos is <|endoftext|> there.
        {"name": "gpt_sw3_7b_defaults", "dir": "gpt-sw3-7b",
         "tokenizer_config": {"tokenizer_class": "GPTSw3Tokenizer"}},
        {"name": "defaults", "dir": "gpt_sw3", "tokenizer_config": {"tokenizer_class": "GPTSw3Tokenizer"}},
        # special_tokens_map.json overrides the config's tokens when it has no added_tokens_decoder.
        {"name": "special_tokens_map", "dir": "gpt_sw3", "tokenizer_config": CONFIG,
         "special_tokens_map": {"bos_token": "<|endoftext|>", "pad_token": {"content": "<unk>"},
                                "eos_token": "<|endoftext|>", "unk_token": "<unk>"}},
        # Special tokens beyond the named ones: a list, and a model-specific "*_token" key.
        {"name": "extra_special_tokens", "dir": "gpt_sw3",
         "tokenizer_config": {"tokenizer_class": "GPTSw3Tokenizer", "bos_token": "<|endoftext|>",
                              "pad_token": "<unk>", "image_token": "<pad>", "additional_special_tokens": ["<s>"]}},
        # The class named only in config.json, as AutoTokenizer also looks there.
        {"name": "class_in_config_json", "dir": "gpt_sw3",
         "tokenizer_config": {k: v for k, v in CONFIG.items() if k != "tokenizer_class"},
         "config": {"model_type": "gpt2", "tokenizer_class": "GPTSw3Tokenizer"}},
    ]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            directory = Path(tmp) / spec["name"] / spec["dir"]
            directory.mkdir(parents=True)
            (directory / "tokenizer.model").write_bytes(model_bytes)
            write_config(directory, spec["tokenizer_config"], spec.get("special_tokens_map"), spec.get("config"))
            tok = load_hf(directory)
            rows = [{k: v for k, v in row(tok, t).items()} for t in texts]
            out.append({**spec, "special_tokens": tok.all_special_tokens, "rows": rows})
            print(f"variant {spec['name']}: special tokens {tok.all_special_tokens}")
    return out


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_bytes(path: Path, data: bytes):
    path.write_bytes(data)
    print(f"wrote {path.relative_to(REPO)} ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})")


def check_nfc_table_version():
    match = re.search(r'kUnicodeVersion = "([0-9.]+)"', NFC_TABLE.read_text(encoding="utf-8"))
    if not match or match.group(1) != unicodedata.unidata_version:
        sys.exit(f"{NFC_TABLE.relative_to(REPO)} is for Unicode {match.group(1) if match else '?'}, this Python "
                 f"has {unicodedata.unidata_version}: rerun scripts/make_unicode_nfc_table.py with this Python")


def main():
    import sentencepiece
    import transformers

    print(f"transformers {transformers.__version__}, sentencepiece {sentencepiece.__version__}, "
          f"Python {sys.version.split()[0]}, Unicode {unicodedata.unidata_version}")
    check_nfc_table_version()

    corpus = build_corpus()
    print(f"corpus: {len(corpus)} strings")
    model_bytes = train_model()

    shutil.rmtree(MODEL_DIR, ignore_errors=True)
    MODEL_DIR.mkdir(parents=True)
    write_bytes(MODEL_DIR / "tokenizer.model", model_bytes)
    write_config(MODEL_DIR, CONFIG)
    tok = load_hf(MODEL_DIR)
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL.values()] == [0, 1, 2, 3]

    rows = [row(tok, text) for text in corpus]
    for r in rows:
        assert r["ids"] == r["ids_special"], "GPTSw3Tokenizer adds no special tokens"
    write_bytes(OUT / "gpt_sw3.expected.jsonl", "".join(dumps(r) + "\n" for r in rows).encode("utf-8"))
    write_bytes(OUT / "gpt_sw3_decode.expected.jsonl",
                "".join(dumps(r) + "\n" for r in decode_cases(tok)).encode("utf-8"))
    write_bytes(OUT / "gpt_sw3_variants.expected.json",
                (dumps(variants(model_bytes, corpus)) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
