#!/usr/bin/env python3
"""Checks an exported final/ against what the pipeline printed.

With transformers installed (pip install torch transformers):
    python tools/hf_check.py path/to/final
loads the directory with AutoModelForCausalLM/AutoTokenizer, renders each sample's question with
apply_chat_template(add_generation_prompt=True), greedy-generates as many tokens as fit (max_new_tokens, bounded
by the model's context, as the pipeline does) and compares the reply with samples.json. Exit status 1 on a mismatch.

A reward model's final/ (config.json architectures ...ForSequenceClassification) is checked the same way with
AutoModelForSequenceClassification: each response the reward stage printed with its score ("+0.12  response") is
encoded as the pipeline encodes it (the chat template's prompt, the response, the template's end-of-turn token),
the batch right-padded with pad_token_id, and the score transformers reads at the last non-pad token must equal
the printed one to its two decimals.

Without transformers, a numpy reference of GPT-2 arbitrates between the two sides:
    python tools/hf_check.py path/to/final --numpy --ids 1,311,272 [--max-new-tokens 24]
prints the greedy continuation of those token ids computed from model.safetensors and config.json alone (float32,
gelu_new, LayerNorm eps from config), for comparison with `forge generate DIR --raw --temperature 0`.
Download a final/ first, e.g. `aws s3 cp --recursive s3://.../sft/final/ final/`.
"""
import argparse
import json
import os
import struct
import sys

DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": None, "F64": "<f8", "I64": "<i8"}


def read_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=DTYPES[info["dtype"]]).astype(np.float32)
        out[name] = a.reshape(info["shape"])
    return out


def load_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        w = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, shard)))
        return w
    return read_safetensors(os.path.join(d, "model.safetensors"))


def numpy_gpt2_greedy(d, ids, max_new):
    """GPT-2 as modeling_gpt2 computes it, in float32 numpy: no cache, the whole sequence each step."""
    import numpy as np
    cfg = json.load(open(os.path.join(d, "config.json")))
    if cfg.get("model_type") != "gpt2":
        sys.exit("--numpy implements GPT-2 only; this is " + str(cfg.get("model_type")))
    raw = load_weights(d)
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in raw.items()}
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    n_head = cfg["n_head"]

    def ln(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        y = (x - mu) / np.sqrt(var + eps) * w[name + ".weight"]
        return y + w[name + ".bias"] if name + ".bias" in w else y

    def conv1d(x, name):  # HF Conv1D: weight (in, out)
        y = x @ w[name + ".weight"]
        return y + w[name + ".bias"] if name + ".bias" in w else y

    def gelu_new(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    def logits(seq):
        t = len(seq)
        x = w["wte.weight"][seq] + w["wpe.weight"][:t]                      # (T, C)
        c = x.shape[1]
        hs = c // n_head
        mask = np.triu(np.full((t, t), -np.inf, dtype=np.float32), 1)
        for i in range(cfg["n_layer"]):
            p = "h.%d." % i
            q, k, v = np.split(conv1d(ln(x, p + "ln_1"), p + "attn.c_attn"), 3, axis=-1)
            q, k, v = (a.reshape(t, n_head, hs).transpose(1, 0, 2) for a in (q, k, v))  # (nh, T, hs)
            att = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(hs)) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = (att @ v).transpose(1, 0, 2).reshape(t, c)
            x = x + conv1d(y, p + "attn.c_proj")
            x = x + conv1d(gelu_new(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
        return ln(x, "ln_f")[-1] @ w["wte.weight"].T

    seq = list(ids)
    for _ in range(min(max_new, cfg["n_positions"] - len(seq))):
        seq.append(int(np.argmax(logits(seq))))
    return seq[len(ids):]


def parse_samples(path):
    out = []
    for s in json.load(open(path)):
        if not s.startswith("Q: ") or "\nA: " not in s:
            continue
        q, a = s[3:].split("\nA: ", 1)
        out.append((q, a))
    return out


def transformers_check(d, max_new):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    ctx = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    bad = 0
    for q, expected in parse_samples(os.path.join(d, "samples.json")):
        if "[prompt cropped" in q:
            print("skipped (the pipeline cropped this prompt):", q)
            continue
        ids = tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                      return_tensors="pt")
        if not torch.is_tensor(ids):
            ids = ids["input_ids"]
        n = min(max_new, ctx - ids.shape[1])
        with torch.no_grad():
            out = model.generate(ids, do_sample=False, max_new_tokens=n, pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        for i, t in enumerate(new):
            if t in eos:
                new = new[:i]
                break
        got = tok.decode(new, skip_special_tokens=True)
        ok = got == expected
        bad += not ok
        print(("OK  " if ok else "DIFF") + " Q: " + q + "\n     pipeline:     " + repr(expected)
              + ("" if ok else "\n     transformers: " + repr(got)))
    return bad


def end_of_turn(tok):
    """The first special token the chat template renders after an assistant reply, as forge.chat.ChatEncoder finds it."""
    marker = "\u0001forge-reply\u0001"
    try:
        text = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}],
                                       tokenize=False)
        at = text.find(marker)
        if at >= 0:
            special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
            for i in tok(text[at + len(marker):], add_special_tokens=False)["input_ids"]:
                if i in special:
                    return i
    except Exception:  # a template that refuses the probe: eos, as the pipeline falls back
        pass
    return tok.eos_token_id


def reward_check(d):
    import re
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d, torch_dtype=torch.float32).eval()
    ctx = getattr(model.config, "n_positions", None) or model.config.max_position_embeddings
    pad = model.config.pad_token_id
    eot = end_of_turn(tok)
    bad = 0
    for s in json.load(open(os.path.join(d, "samples.json"))):
        lines = s.split("\n")
        q = lines[0][3:]
        scored = [re.match(r"^([+-]\d+\.\d\d)  (.*)$", x) for x in lines[1:]]
        seqs = []
        for m in scored:
            reply = tok(m.group(2), add_special_tokens=False)["input_ids"] + [eot]
            prompt = tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                             tokenize=True)
            if not isinstance(prompt, list):
                prompt = prompt["input_ids"]
            seqs.append(prompt[max(0, len(prompt) - (ctx - len(reply))):] + reply)
        w = max(len(x) for x in seqs)
        ids = torch.tensor([x + [pad] * (w - len(x)) for x in seqs])
        with torch.no_grad():
            got = model(input_ids=ids).logits[:, 0].tolist()
        for m, g in zip(scored, got):
            ok = abs(float(m.group(1)) - g) <= 0.0051
            bad += not ok
            print(("OK  " if ok else "DIFF") + " %s  pipeline %s, transformers %+.4f" % (m.group(2)[:60], m.group(1), g))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--max-new-tokens", type=int, default=40, help="the stage's sample.max_new_tokens")
    ap.add_argument("--numpy", action="store_true", help="GPT-2 numpy reference instead of transformers")
    ap.add_argument("--ids", help="comma-separated prompt token ids for --numpy")
    a = ap.parse_args()
    if a.numpy:
        if not a.ids:
            sys.exit("--numpy needs --ids: the prompt's token ids")
        print(",".join(str(t) for t in numpy_gpt2_greedy(a.dir, [int(x) for x in a.ids.split(",")],
                                                         a.max_new_tokens)))
        return
    archs = json.load(open(os.path.join(a.dir, "config.json"))).get("architectures") or [""]
    if archs[0].endswith("ForSequenceClassification"):
        sys.exit(1 if reward_check(a.dir) else 0)
    sys.exit(1 if transformers_check(a.dir, a.max_new_tokens) else 0)


if __name__ == "__main__":
    main()
