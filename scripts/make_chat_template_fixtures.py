#!/usr/bin/env python3
r"""Write the chat template fixtures under tests/fixtures/chat_templates/.

Each file is one JSON object {"templates": [...]}; each template is
  {"name", "source", "template", "bos_token", "eos_token", "cases": [...]}
and each case {"messages": [{"role", "content"}], "add_generation_prompt": bool} plus either
  "expected": the prompt transformers renders, or
  "error": the message of the exception transformers raises, with "raised": true when the
           template raised it itself (raise_exception) and false for jinja2's own errors.
bos_token/eos_token are null where the tokenizer has none (the template sees them undefined).

The expected strings come from transformers itself: apply_chat_template(messages,
tokenize=False, add_generation_prompt=...) on a PreTrainedTokenizerFast built from
models/SmolLM2-135M-Instruct/tokenizer.json (scripts/fetch_smollm2.sh) with the template
assigned to tokenizer.chat_template and bos/eos set as the model publishes them. Only the
template and the special tokens reach the template, so the vocabulary does not matter.

Files:
  smollm2.json         SmolLM2-135M-Instruct's own template (models/.../tokenizer_config.json,
                       converted from the GGUF by scripts/gguf_to_hf.py)
  llama2_chat.json     meta-llama/Llama-2-7b-chat-hf (and -13b/-70b-chat-hf, the same string)
  codellama_70b.json   codellama/CodeLlama-70b-Instruct-hf ("Source: ... <step>")
  chatml.json          teknium/OpenHermes-2.5-Mistral-7B (ChatML)
  jinja_semantics.json small templates, one jinja2 behaviour each (whitespace control,
                       scoping, filters, tests, operators, literals, errors)
  other_models.json    more published templates as other projects quote them (TinyLlama,
                       deepseek-coder, Gemma, DBRX) and multi-line layouts

The model templates are copied from public sources (below, with where each was checked) and
the script checks each against the prompt its model card or a reference test publishes
before writing anything.

Deterministic: the same library versions give the same bytes. The checked-in fixtures were
produced with transformers 5.24.0, jinja2 3.1.6, tokenizers 0.23.3 on Python 3.11.

Usage: scripts/make_chat_template_fixtures.sh (or run this file with a Python that has
transformers and jinja2).
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "chat_templates"
SMOLLM2 = REPO / "models" / "SmolLM2-135M-Instruct"

# meta-llama/Llama-2-7b-chat-hf, tokenizer_config.json "chat_template" (the -13b and -70b chat
# models publish the same string). Copied from EricLBuehler/mistral.rs,
# mistralrs-core/src/pipeline/chat_template.rs (test_chat_templates, "meta-llama/Llama-2-13b-
# chat-hf", whose expected output was generated with transformers), and identical in
# huggingface/text-generation-inference's router tests and openvinotoolkit/openvino.genai's
# tests/python_tests/tokenizer_configs.py. Checked below against the prompt in Hugging Face's
# chat templating guide and against mistral.rs's expected output.
LLAMA2_CHAT = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)

# codellama/CodeLlama-70b-Instruct-hf, tokenizer_config.json "chat_template". Copied from
# openvinotoolkit/openvino.genai tests/python_tests/tokenizer_configs.py (its entry for
# TheBloke/CodeLlama-70B-Instruct-AWQ, which carries the original's tokenizer_config.json); the
# same string, with .strip() written as | trim, is in huggingface/text-generation-inference
# router/src/infer/chat_template.rs, whose comment says the original uses .strip(). Checked
# below against the prompt the model card prints for its example chat.
CODELLAMA_70B_INSTRUCT = (
    "{% if messages[0]['role'] == 'system' %}{% set user_index = 1 %}{% else %}"
    "{% set user_index = 0 %}{% endif %}{% for message in messages %}"
    "{% if (message['role'] == 'user') != ((loop.index0 + user_index) % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 %}{{ '<s>' }}{% endif %}"
    "{% set content = 'Source: ' + message['role'] + '\\n\\n ' + message['content'].strip() %}"
    "{{ content + ' <step> ' }}{% endfor %}{{'Source: assistant\\nDestination: user\\n\\n '}}"
)

# teknium/OpenHermes-2.5-Mistral-7B, tokenizer_config.json "chat_template" (ChatML; bos <s>,
# eos <|im_end|>). Copied from ggerganov/llama.cpp tests/test-chat-template.cpp, where it is
# checked against transformers' output, and the same in EricLBuehler/mistral.rs's tests.
# Checked below against llama.cpp's expected output.
OPENHERMES_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


# More published templates, as other projects quote them (not checked against model cards):
# multi-line layouts, `-` markers, namespaces, | trim and non-ASCII literals.
OTHER_TEMPLATES = [
    # TinyLlama/TinyLlama-1.1B-Chat-v1.0, as in openvinotoolkit/openvino.genai
    # tests/python_tests/tokenizer_configs.py.
    ("tinyllama_chat", "TinyLlama/TinyLlama-1.1B-Chat-v1.0 (openvino.genai tokenizer_configs.py)",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
     "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' "
     "+ message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
     "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
     "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
     "{% endfor %}",
     "<s>", "</s>"),
    # deepseek-ai/deepseek-coder-33b-instruct, as in huggingface/text-generation-inference
    # router/src/infer/chat_template.rs and ggerganov/llama.cpp tests/test-chat-template.cpp.
    ("deepseek_coder", "deepseek-ai/deepseek-coder-33b-instruct (TGI and llama.cpp tests)",
     "{% if not add_generation_prompt is defined %}\n{% set add_generation_prompt = false %}\n"
     "{% endif %}\n{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n"
     "    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n"
     "    {%- endif -%}\n{%- endfor -%}\n{{bos_token}}{%- if not ns.found -%}\n{{'You are an AI "
     "programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, "
     "and you only answer questions related to computer science. For politically sensitive "
     "questions, security and privacy issues, and other non-computer science questions, you will "
     "refuse to answer\\n'}}\n{%- endif %}\n{%- for message in messages %}\n"
     "    {%- if message['role'] == 'system' %}\n{{ message['content'] }}\n    {%- else %}\n"
     "        {%- if message['role'] == 'user' %}\n{{'### Instruction:\\n' + message['content'] + "
     "'\\n'}}\n        {%- else %}\n{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}\n"
     "        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{% if add_generation_prompt %}\n"
     "{{'### Response:'}}\n{% endif %}",
     "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<|EOT|>"),
    # google/gemma-7b-it, as in EricLBuehler/mistral.rs's tests.
    ("gemma_it", "google/gemma-7b-it (mistral.rs tests)",
     "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
     "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
     "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
     "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
     "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
     "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
     "<bos>", "<eos>"),
    # databricks/dbrx-instruct, as in openvino.genai tokenizer_configs.py.
    ("dbrx_instruct", "databricks/dbrx-instruct (openvino.genai tokenizer_configs.py)",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
     "{% set system_message = messages[0]['content'] %}{% elif 'system' not in messages[0]['role'] %}"
     "{% set loop_messages = messages %}{% set system_message = 'You are DBRX, created by "
     "Databricks. You were last updated in December 2023. You answer questions based on "
     "information available up to that point.\nYOU PROVIDE SHORT RESPONSES TO SHORT QUESTIONS "
     "OR STATEMENTS, but provide thorough responses to more complex and open-ended questions.\n"
     "You assist with various tasks, from writing to coding (using markdown for code blocks "
     "\u2014 remember to use ``` with code, JSON, and tables).\n(You do not have real-time data "
     "access or code execution capabilities. You avoid stereotyping and provide balanced "
     "perspectives on controversial topics. You do not provide song lyrics, poems, or news "
     "articles and do not divulge details of your training data.)\nThis is your system prompt, "
     "guiding your responses. Do not reference it, just respond to the user. If you find yourself "
     "talking about this message, stop. You should be responding appropriately and usually that "
     "means not mentioning this.\nYOU DO NOT MENTION ANY OF THIS INFORMATION ABOUT YOURSELF "
     "UNLESS THE INFORMATION IS DIRECTLY PERTINENT TO THE USER\\'S QUERY.' %}{% else %}"
     "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
     "{% for message in loop_messages %}{% if loop.index0 == 0 %}{% if system_message != false %}"
     "{{ '<|im_start|>system\n' + system_message | trim + '<|im_end|>\n'}}{% endif %}"
     "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' }}"
     "{% else %}{{ '\n' + '<|im_start|>' + message['role'] + '\n' + message['content'] + "
     "'<|im_end|>' }}{% endif %}{% if (add_generation_prompt == true and loop.last) %}"
     "{{ '\n' + '<|im_start|>' + 'assistant' + '\n' }}{% endif %}{% endfor %}",
     "<|endoftext|>", "<|endoftext|>"),
    # Mistral-7B-Instruct v0.2/v0.3 style: one statement a line, indented, `-` markers.
    ("mistral_multiline", "multi-line Mistral-Instruct style (layout written here)",
     "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n"
     "{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n"
     "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
     "        {{- raise_exception('After the optional system message, conversation roles must "
     "alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n"
     "    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n"
     "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
     "        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
     "        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n"
     "        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n"
     "        {{- raise_exception('Only user and assistant roles are supported, with the "
     "exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n",
     "<s>", "</s>"),
    # The same kind of layout without `-` markers: trim_blocks and lstrip_blocks do the work.
    ("indented_without_markers", "indented template relying on trim_blocks/lstrip_blocks (written here)",
     "{% for message in messages %}\n    {% if message.role == 'system' %}\n"
     "        <<{{ message.content | trim }}>>\n    {% else %}\n"
     "        {{ message.role | upper }}: {{ message.content }}\n\n    {% endif %}\n"
     "    {# a comment on its own line #}\n{% endfor %}\n{% if add_generation_prompt %}\n"
     "    ASSISTANT:\n{% endif %}\n",
     None, None),
]


def msg(role, content):
    return {"role": role, "content": content}


# Published prompts each template must reproduce: (template, bos, eos, messages,
# add_generation_prompt, expected, where it is published).
HF_GUIDE_CHAT = [
    msg("system", "You are a helpful assistant."),
    msg("user", "Hello, how are you?"),
    msg("assistant", "I'm doing great. How can I help you today?"),
    msg("user", "I'd like to show off how chat templating works!"),
]
REFERENCE_CHAT = [
    msg("system", "You are a helpful assistant"),
    msg("user", "Hello"),
    msg("assistant", "Hi there"),
    msg("user", "Who are you"),
    msg("assistant", "   I am an assistant   "),
    msg("user", "Another question"),
]
CODELLAMA_CARD_CHAT = [
    msg("system", "System prompt    "),
    msg("user", "First user query"),
    msg("assistant", "Model response to first query"),
    msg("user", "Second user query"),
]
PUBLISHED = [
    ("llama2_chat", HF_GUIDE_CHAT, False,
     "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello, how are you? [/INST] "
     "I'm doing great. How can I help you today? </s><s>[INST] I'd like to show off how chat "
     "templating works! [/INST]",
     "Hugging Face's chat templating guide (quoted in lm-sys/FastChat issue #2736)"),
    ("llama2_chat", REFERENCE_CHAT, True,
     "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s>"
     "<s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]",
     "EricLBuehler/mistral.rs test_chat_templates"),
    ("codellama_70b", CODELLAMA_CARD_CHAT, False,
     "<s>Source: system\n\n System prompt <step> Source: user\n\n First user query <step> "
     "Source: assistant\n\n Model response to first query <step> Source: user\n\n Second user "
     "query <step> Source: assistant\nDestination: user\n\n ",
     "the CodeLlama-70b-Instruct-hf model card"),
    ("chatml", REFERENCE_CHAT, True,
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello"
     "<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you"
     "<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\n"
     "Another question<|im_end|>\n<|im_start|>assistant\n",
     "ggerganov/llama.cpp tests/test-chat-template.cpp"),
]

# Conversations every model template is rendered on, with and without the generation prompt.
# Non-ASCII text, newlines and spaces at either end (Llama-2 and CodeLlama strip them).
CONVERSATIONS = [
    [msg("user", "Hello")],
    [msg("system", "You are terse."), msg("user", "Hello")],
    [msg("user", "What is 2+2?"), msg("assistant", "4"), msg("user", "And 3+3?")],
    [
        msg("system", "  Du bist ein hilfreicher Assistent.\nAntworte kurz.  "),
        msg("user", "  Grüße aus Köln! 你好，世界 🌍\nZweite Zeile\t "),
        msg("assistant", " Réponse : « très bien » — ça va ?\n\n"),
        msg("user", "\tΚαλημέρα; ¿Qué tal?   "),
    ],
    [msg("user", "Write a haiku."), msg("assistant", "Autumn moonlight—\na worm digs silently\ninto the chestnut.")],
    [msg("user", "")],
    [msg("system", ""), msg("user", "{{ not a template }} {% neither %}")],
    HF_GUIDE_CHAT,
    REFERENCE_CHAT,
    # Not alternating: Llama-2 and CodeLlama raise, the ChatML templates render.
    [msg("user", "one"), msg("user", "two")],
    [msg("assistant", "I speak first")],
    # An unknown role: Llama-2 skips it, the others print it.
    [msg("user", "hi"), msg("tool", "42")],
]


def semantics():
    """(name, template) pairs, one jinja2 behaviour each; rendered on SEMANTICS_CHATS."""
    t = [
        # Whitespace: trim_blocks, lstrip_blocks, "-" and "+" markers, comments, newlines.
        ("trim_blocks", "{% if true %}\nA\n{% endif %}\nB\n"),
        ("lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\n  z"),
        ("lstrip_not_after_text", "x  {% if true %}y{% endif %}"),
        ("lstrip_variable_untouched", "x\n   {{ 'y' }}\n"),
        ("minus_markers", "a   {%- if true -%}   b   {%- endif -%}   c"),
        ("plus_markers", "a\n  {%+ if true +%}\nb\n  {%+ endif %}\nc"),
        ("variable_minus", "a  {{- 'b' -}}  \n c"),
        ("comments", "a\n  {# a comment #}\nb{#- trimmed -#}   c {# keep #}\n"),
        ("crlf_and_trailing_newline", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n"),
        ("two_trailing_newlines", "a\n\n"),
        ("unicode_space_before_tag", "a\n\u3000\u00a0{% if true %}b{% endif %}"),
        ("text_braces", "{ not a tag } {{ '{{' }} %} #}"),
        # Scoping.
        ("set_in_loop_does_not_leak",
         "{% set x = 'outer' %}{% for m in messages %}{{ x }}{% set x = m.role %}{{ x }};{% endfor %}{{ x }}"),
        ("set_in_if_leaks", "{% if true %}{% set x = 'in if' %}{% endif %}{{ x }}"),
        ("namespace_in_loop",
         "{% set ns = namespace(n=0, last='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
         "{% set ns.last = m.role %}{% endfor %}{{ ns.n }} {{ ns.last }} {{ ns }}"),
        ("set_block", "{% set x %}[{{ messages | length }}]{% endset %}{{ x ~ x }}"),
        ("set_tuple", "{% set a, b = 1, 'two' %}{{ a }} {{ b }}"),
        ("loop_target_gone_after_loop", "{% for m in messages %}{% endfor %}[{{ m }}]"),
        # Loops.
        ("loop_variables",
         "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/"
         "{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}"),
        ("loop_previtem_nextitem",
         "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>"
         "{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}"),
        ("loop_cycle", "{% for m in messages %}{{ loop.cycle('odd', 'even') }} {% endfor %}"),
        ("loop_filter", "{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role }}{% endfor %}"),
        ("loop_else", "{% for x in [] %}x{% else %}empty{% endfor %}"),
        ("break_continue",
         "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > 4 %}{% break %}"
         "{% endif %}{{ i }}{% endfor %}"),
        ("nested_loops",
         "{% for a in [1, 2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}"
         "{{ loop.index }};{% endfor %}"),
        ("unpack_items", "{% for k, v in {'a': 1, 'b': [2, 3]}.items() %}{{ k }}={{ v }};{% endfor %}"),
        ("loop_over_string_and_dict", "{% for c in 'héllo' %}{{ c }}.{% endfor %}{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}"),
        ("range", "{{ range(3) }} {{ range(1, 10, 3) | list }} {% for i in range(5, 0, -2) %}{{ i }}{% endfor %}"),
        # Literals and text forms.
        ("string_escapes", "{{ 'a\\tb\\x41\\u00e9\\101\\q\\'' }}|{{ \"d\\\"q\" }}|{{ 'x' 'y' \"z\" }}"),
        ("numbers", "{{ 1 }} {{ -2 }} {{ 1.5 }} {{ 1e3 }} {{ 2.50 }} {{ 1_000 }} {{ 0.1 + 0.2 }} {{ 1e-7 }} {{ 1e16 }} {{ 123456789.125 }}"),
        ("constants", "{{ true }} {{ False }} {{ none }} {{ None }} [{{ undefined_name }}]"),
        ("containers", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': \"it's\", 'q': 'say \"hi\"'} }} {{ (1,) }} {{ (1, 2) }} {{ () }}"),
        ("repr_escapes", "{{ ['a\\nb', 'tab\\t', 'back\\\\slash', \"both'\\\"\"] }}"),
        # Operators.
        ("arithmetic", "{{ 7 + 3 }} {{ 7 - 10 }} {{ 7 * 3 }} {{ 7 / 2 }} {{ 8 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** 3 ** 2 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
        ("string_ops", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'xy' }} {{ 'a' ~ 1 ~ none ~ true ~ undefined_name }} {{ [1] + [2] }}"),
        ("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ [1, 2] < [1, 3] }} {{ (1, 2) == [1, 2] }} {{ none == none }} {{ 'é' > 'z' }}"),
        ("membership", "{{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in 'abc' }} {{ 'a' in undefined_name }}"),
        ("logic_returns_operands", "{{ 0 or 'fallback' }} {{ 'first' or 'second' }} {{ '' and 'x' }}| {{ 'a' and 'b' }} {{ not 0 }} {{ not 'x' }} {{ none or [] or 'last' }}"),
        ("conditional_expression", "{{ 'yes' if messages else 'no' }} [{{ 'x' if false }}] {{ 'a' if false else 'b' if true else 'c' }}"),
        ("precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 'a' ~ (1 + 2) }} {{ 2 * 3 ~ 'x' }} {{ not 1 == 2 }} {{ 1 - 2 - 3 }} {{ 12 / 2 / 3 }}"),
        ("negative_and_unary", "{{ -(3) }} {{ +3 }} {{ - -3 }} {{ -1.5 }}"),
        # Subscripts, attributes, slices.
        ("subscripts", "{{ messages[0]['role'] }} {{ messages[-1].content }} {{ messages[0].role }} [{{ messages[99] }}] [{{ messages[0]['missing'] }}] [{{ messages[0].missing }}]"),
        ("slices", "{{ [1, 2, 3, 4, 5][1:] }} {{ [1, 2, 3, 4, 5][:-2] }} {{ [1, 2, 3, 4, 5][::2] }} {{ [1, 2, 3, 4, 5][::-1] }} {{ 'héllo wörld'[1:8] }} {{ 'héllo'[-1] }} {{ 'abc'[5:] }} {{ [1, 2, 3][-10:10] }}"),
        ("constant_folding",
         "{{ (7)[1:] }}|{{ ((7)[1:] | length) }}|{{ ({'a': 1})[::-1] is defined }}|{{ [none[1:]] }}"
         "|{% if ((7)[1:] | length) == 0 %}folded{% endif %}"),
        ("error_slice_not_folded", "{% set x = (7)[1:] %}"),
        ("error_slice_of_variable", "{{ (messages | length)[1:] }}"),
        ("messages_slice", "{% for m in messages[1:] %}{{ m.role }} {% endfor %}{{ messages[1:] | length }}"),
        ("attribute_number", "{{ [10, 20, 30].1 }}"),
        # Filters.
        ("trim_filter", "[{{ '  a b  ' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ '\\u3000\\u00a0a\\n' | trim }}] [{{ undefined_name | trim }}] [{{ 12 | trim }}]"),
        ("length_filters", "{{ messages | length }} {{ 'héllo' | length }} {{ {'a': 1} | count }} {{ undefined_name | length }}"),
        ("case_filters", "{{ 'Hello World' | upper }} {{ 'Hello World' | lower }} {{ 'hELLO wORLD' | capitalize }} {{ \"they're bill's-friends (from [the] <uk>)\" | title }}"),
        ("default_filter", "{{ undefined_name | default('dflt') }} {{ '' | default('empty') }} {{ '' | default('empty', true) }} {{ none | d('n') }} {{ 0 | default(5, boolean=true) }}"),
        ("join_filter", "{{ ['a', 'b', 'c'] | join(', ') }} {{ [1, 2] | join }} {{ 'abc' | join('-') }} [{{ undefined_name | join(',') }}]"),
        ("first_last_list_string", "{{ [3, 4] | first }} {{ [3, 4] | last }} {{ 'xyz' | first }} {{ 'xyz' | list }} [{{ [] | first }}] {{ 5 | string ~ 'x' }} {{ {'a': 1, 'b': 2} | last }}"),
        ("replace_filter", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab' | replace('', '-') }}"),
        ("tojson_filter", "{{ {'role': 'user', 'content': 'é \"q\" \\n\\t\\u0001', 'n': [1, 2.5, true, none]} | tojson }}"),
        ("tojson_options", "{{ {'b': [1, {'c': 'é'}], 'a': {}} | tojson(indent=2, sort_keys=true) }}|{{ ['é'] | tojson(ensure_ascii=true) }}|{{ [1, 2] | tojson(separators=(',', ':')) }}|{{ [] | tojson(indent=2) }}"),
        ("filter_chain_and_args", "{{ '  Hello  ' | trim | upper | replace('L', 'l') }} {{ messages | length * 10 }}"),
        # Tests.
        ("tests",
         "{{ messages is defined }} {{ nope is defined }} {{ nope is undefined }} {{ none is none }} "
         "{{ 'x' is string }} {{ 1 is number }} {{ true is number }} {{ 1 is integer }} {{ true is integer }} "
         "{{ 1.0 is float }} {{ true is boolean }} {{ true is true }} {{ 1 is true }} {{ false is false }} "
         "{{ {} is mapping }} {{ [] is sequence }} {{ 'x' is sequence }} {{ {} is sequence }} {{ 5 is sequence }} "
         "{{ 'x' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} "
         "{{ 2 is in [1, 2] }} {{ 'a' is eq 'a' }} {{ 1 is not equalto 2 }} {{ 1 is lt 2 }} {{ 2 is ge 2 }} {{ nope is not defined }}"),
        ("test_precedence", "{{ not messages is defined }} {{ 'x' if nope is defined else 'y' }} {{ 1 + 1 is even }}"),
        # Methods.
        ("string_methods",
         "[{{ '  x  '.strip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] "
         "{{ 'Ab'.upper() }} {{ 'Ab'.lower() }} {{ \"they're 1st\".title() }} {{ 'hELLO'.capitalize() }} "
         "{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'a,b,,c'.split(',') }} "
         "{{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ '  a  b  '.split(none, 1) }} "
         "{{ 'aXbX'.replace('X', '-') }} {{ '-'.join(['x', 'y']) }}"),
        ("dict_methods",
         "{{ {'a': 1}.items() }} {{ {'a': 1}.keys() }} {{ {'a': 1}.values() }} {{ {'a': 1}.get('a') }} "
         "{{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 'dflt') }} {{ messages[0].get('role') }} "
         "{{ {'a': 1, 'b': 2}.items() | list }} {{ {'items': 1}['items'] }}"),
        ("dict_literal_duplicates", "{{ {'a': 1, 'b': 2, 'a': 3} }}"),
        # Errors: jinja2's own, and the template's raise_exception.
        ("error_undefined_plus", "{{ nope + 'x' }}"),
        ("error_undefined_attribute", "{{ nope.attr }}"),
        ("error_missing_element_item", "{{ messages[99]['role'] }}"),
        ("error_type", "{{ 'a' + 1 }}"),
        ("error_concat_binds_tighter_than_plus", "{{ 1 + 1 ~ 'x' }}"),
        ("error_in_string", "{{ 1 in 'abc' }}"),
        ("error_division_by_zero", "{{ 1 // 0 }}"),
        ("error_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
        ("error_not_namespace", "{% set x = 1 %}{% set x.y = 2 %}"),
        ("raise_exception", "before{{ raise_exception('Only user and assistant roles are supported!') }}after"),
        ("raise_exception_in_loop",
         "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported: ' ~ m.content) }}{% endif %}{{ m.content }}{% endfor %}"),
    ]
    return t


SEMANTICS_CHATS = [
    [msg("user", "Hi")],
    [msg("system", "Be brief."), msg("user", "  Grüße  "), msg("assistant", "Hallo!")],
]


def tokenizer(bos, eos):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(SMOLLM2 / "tokenizer.json"), bos_token=bos, eos_token=eos
    )
    expected = {k: v for k, v in (("bos_token", bos), ("eos_token", eos)) if v is not None}
    if tok.special_tokens_map != expected:
        sys.exit(f"unexpected special tokens {tok.special_tokens_map}: llmpi defines only bos/eos")
    return tok


def render(tok, template, messages, add_generation_prompt):
    import jinja2

    tok.chat_template = template
    try:
        text = tok.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return {"expected": text}
    except Exception as e:  # noqa: BLE001 - every failure is a case
        # raise_exception raises TemplateError itself; jinja2's own errors are subclasses of
        # it, Python's (TypeError, ZeroDivisionError, ...) are not.
        return {"error": f"{type(e).__name__}: {e}",
                "raised": type(e) is jinja2.exceptions.TemplateError}


def cases_for(tok, template, conversations):
    cases = []
    for messages in conversations:
        for add_generation_prompt in (False, True):
            case = {"messages": messages, "add_generation_prompt": add_generation_prompt}
            case.update(render(tok, template, messages, add_generation_prompt))
            cases.append(case)
    return cases


def model_templates():
    config = json.loads((SMOLLM2 / "tokenizer_config.json").read_text(encoding="utf-8"))
    return {
        "smollm2": ("models/SmolLM2-135M-Instruct/tokenizer_config.json (from the model's GGUF)",
                    config["chat_template"], config["bos_token"], config["eos_token"]),
        "llama2_chat": ("meta-llama/Llama-2-7b-chat-hf tokenizer_config.json", LLAMA2_CHAT,
                        "<s>", "</s>"),
        "codellama_70b": ("codellama/CodeLlama-70b-Instruct-hf tokenizer_config.json",
                          CODELLAMA_70B_INSTRUCT, "<s>", "</s>"),
        "chatml": ("teknium/OpenHermes-2.5-Mistral-7B tokenizer_config.json", OPENHERMES_CHATML,
                   "<s>", "<|im_end|>"),
    }


def check_published(models):
    for name, messages, add_generation_prompt, expected, where in PUBLISHED:
        _, template, bos, eos = models[name]
        got = render(tokenizer(bos, eos), template, messages, add_generation_prompt)
        if got.get("expected") != expected:
            sys.exit(f"{name}: transformers renders {got!r}, {where} publishes {expected!r}")
        print(f"{name}: matches {where}")


def write(name, templates):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    text = json.dumps({"templates": templates}, ensure_ascii=False, indent=1) + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(REPO)}")


def main():
    models = model_templates()
    check_published(models)
    for name, (source, template, bos, eos) in models.items():
        tok = tokenizer(bos, eos)
        entry = {"name": name, "source": source, "template": template, "bos_token": bos,
                 "eos_token": eos, "cases": cases_for(tok, template, CONVERSATIONS)}
        write(name, [entry])
    tok = tokenizer("<s>", "</s>")
    entries = []
    for name, template in semantics():
        entries.append({"name": name, "source": "jinja2 behaviour", "template": template,
                        "bos_token": "<s>", "eos_token": "</s>",
                        "cases": cases_for(tok, template, SEMANTICS_CHATS)})
    write("jinja_semantics", entries)
    entries = []
    for name, source, template, bos, eos in OTHER_TEMPLATES:
        entries.append({"name": name, "source": source, "template": template, "bos_token": bos,
                        "eos_token": eos,
                        "cases": cases_for(tokenizer(bos, eos), template, CONVERSATIONS)})
    write("other_models", entries)


if __name__ == "__main__":
    main()
