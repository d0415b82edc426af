"""The built-in translation task: generated data, corpus loading, masking, metrics, the CLI."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import torch

from orchestrator.errors import ConfigError
from stages.translation import METRICS, TranslationTask, bleu
from stages.translation.data import PAD, collate, load_corpus, read_tsv
from stages.translation.grammar import PRONOUNS, Grammar, generate_splits
from stages.translation.models import GRUSeq2Seq, TransformerSeq2Seq, sentence_losses

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"train": 3000, "valid": 200, "test": 200}


@pytest.fixture(scope="module")
def splits():
    return generate_splits(SIZES, seed=0)


@pytest.fixture(scope="module")
def task():
    return TranslationTask(train_pairs=2000, valid_pairs=100, test_pairs=100, eval_sentences=50,
                           train_eval_sentences=50)


# --- the generated language pair ---------------------------------------------------------------

def test_generator_is_deterministic(splits):
    assert generate_splits(SIZES, seed=0) == splits
    assert generate_splits(SIZES, seed=1)["train"][:50] != splits["train"][:50]
    assert {k: len(v) for k, v in splits.items()} == SIZES


def test_splits_are_disjoint_by_sentence_in_both_languages(splits):
    for side in (0, 1):
        sets = {k: {" ".join(p[side]) for p in v} for k, v in splits.items()}
        for k, v in splits.items():
            assert len(sets[k]) == len(v), f"duplicate sentence inside {k}"
        assert not sets["train"] & sets["valid"]
        assert not sets["train"] & sets["test"]
        assert not sets["valid"] & sets["test"]


def test_sentence_lengths_and_vocabulary(splits):
    lengths = Counter(len(s) for s, _ in splits["train"])
    assert min(lengths) >= 3 and max(lengths) <= 15
    assert len({w for s, _ in splits["train"] for w in s}) >= 200  # a few hundred source words


def _alignment(pairs):
    """A lexical dictionary from co-occurrence (Dice coefficient), with no knowledge of the grammar."""
    src_count, tgt_count, both = Counter(), Counter(), Counter()
    for s, t in pairs:
        src_count.update(set(s))
        tgt_count.update(set(t))
        both.update((a, b) for a in set(s) for b in set(t))
    best = {}
    for (a, b), n in both.items():
        dice = 2 * n / (src_count[a] + tgt_count[b])
        if dice > best.get(a, (None, 0.5))[1]:
            best[a] = (b, dice)
    return {a: b for a, (b, _) in best.items()}


def test_target_is_reordered_not_a_word_for_word_cipher(splits):
    pairs = splits["train"]
    align = _alignment(pairs)
    non_monotone = 0
    for s, t in pairs:
        positions = [t.index(align[w]) for w in s if w in align and align[w] in t]
        if any(b < a for a, b in zip(positions, positions[1:])):
            non_monotone += 1
    assert non_monotone / len(pairs) > 0.5, non_monotone / len(pairs)
    # and lengths differ (articles vanish, demonstratives move), so no 1:1 position mapping exists
    assert sum(len(s) != len(t) for s, t in pairs) / len(pairs) > 0.5


def test_verb_agrees_with_the_subject_which_the_source_verb_does_not_show(splits):
    """Source "see" (I/you/we/they) becomes several target forms: the subject decides which."""
    forms = defaultdict(set)
    for s, t in splits["train"]:
        if s[0] in PRONOUNS and s[1] == "see":
            forms[s[0]].add(t[-2])  # the verb is the last word before "."
    assert len({f for v in forms.values() for f in v}) >= 3
    for pronoun, f in forms.items():
        assert len(f) == 1, (pronoun, f)  # one subject, one form: agreement, not noise


def test_plural_and_case_marking(splits):
    stem = Grammar().noun["dog"]
    forms = {w for _, t in splits["train"] for w in t if w.startswith(stem)}
    # nominative, accusative (object), genitive (before a postposition), each singular and plural
    assert {stem, stem + "m", stem + "n", stem + "i", stem + "im", stem + "in"} <= forms
    subjects = {(s[1], t[0]) for s, t in splits["train"] if s[0] == "the" and s[1] in ("dog", "dogs")}
    assert subjects == {("dog", stem), ("dogs", stem + "i")}


# --- a user's corpus ---------------------------------------------------------------------------

def _write(tmp_path, text, name="pairs.tsv", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_tsv_loads_pairs_and_skips_blank_lines(tmp_path):
    p = _write(tmp_path, "a b\tx y\n\n   \nc d e\tz\r\n")
    assert read_tsv(p) == [(["a", "b"], ["x", "y"]), (["c", "d", "e"], ["z"])]


@pytest.mark.parametrize("text, line, words", [
    ("a\tx\nno tab here\nb\ty\n", 2, "no tab"),
    ("a\tx\nb\ty\tz\n", 2, "2 tabs"),
    ("a\tx\n\n\t y\n", 3, "source side is empty"),
    ("a\tx\nb\t  \n", 2, "target side is empty"),
])
def test_malformed_tsv_names_file_and_line(tmp_path, text, line, words):
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        read_tsv(p)
    msg = e.value.line()
    assert f"{p}:{line}" in msg and words in msg and "\n" not in msg
    assert e.value.key == "task.data_path"


def test_bad_files_give_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_corpus(str(tmp_path / "missing.tsv"))
    with pytest.raises(ConfigError, match="no sentence pair"):
        load_corpus(str(_write(tmp_path, "\n\n", "empty.tsv")))
    with pytest.raises(ConfigError, match=r"latin1.tsv:2: .*not UTF-8"):
        load_corpus(str(_write(tmp_path, b"a\tb\n\xff\xfe\tc\n", "latin1.tsv", "wb")))
    (tmp_path / "folder").mkdir()
    _write(tmp_path / "folder", "a\tb\n", "train.tsv")
    with pytest.raises(ConfigError, match="no valid.tsv"):
        load_corpus(str(tmp_path / "folder"))


def test_user_corpus_file_and_folder(tmp_path):
    lines = [f"w{i} w{i + 1} common\tv{i} shared" for i in range(40)]
    f = _write(tmp_path, "\n".join(lines) + "\n")
    splits = load_corpus(str(f), valid_size=5, test_size=5)
    assert sum(len(v) for v in splits.values()) == 40
    srcs = [{" ".join(s) for s, _ in v} for v in splits.values()]
    assert not (srcs[0] & srcs[1]) and not (srcs[0] & srcs[2]) and not (srcs[1] & srcs[2])

    folder = tmp_path / "corpus"
    folder.mkdir()
    _write(folder, "\n".join(lines[:30]) + "\n", "train.tsv")
    _write(folder, "brand new words\tnie widziane\n" + "\n".join(lines[30:]) + "\n", "valid.tsv")
    t = TranslationTask(data_path=str(folder), eval_sentences=20)
    assert len(t.splits["train"]) == 30 and t.splits["test"] == t.splits["valid"]
    val = t.view(t.splits["valid"], "translate", 100)
    assert val.src[0].tolist() == [1, 1, 1]  # unseen words are <unk>
    problem = t.build({"subset": 30, "max_len": 10, "variant": "translate"}, seed=0)
    metrics = problem.evaluate(problem.model.eval())
    assert set(metrics) == set(METRICS) - {"train/loss"}


# --- models: padding must not change anything --------------------------------------------------

def _sentences(task, n=4):
    data = task.view(task.splits["valid"], "translate", 15)
    order = sorted(range(len(data)), key=lambda i: len(data.src[i]))
    short = order[:n]
    long_ = order[-n:]
    return data, short, long_


@pytest.mark.parametrize("kind", ["gru-additive", "gru-dot", "gru-unidirectional", "transformer"])
def test_padding_does_not_change_a_sentence(task, kind):
    torch.manual_seed(0)
    vs, vt = len(task.src_vocab), len(task.tgt_vocab)
    model = {"gru-additive": lambda: GRUSeq2Seq(vs, vt, 32, 64),
             "gru-dot": lambda: GRUSeq2Seq(vs, vt, 32, 64, attention="dot"),
             "gru-unidirectional": lambda: GRUSeq2Seq(vs, vt, 32, 64, bidirectional=False),
             "transformer": lambda: TransformerSeq2Seq(vs, vt, 32, 4, 2, 64)}[kind]().eval()
    data, short, long_ = _sentences(task)
    alone = collate([data.src[i] for i in short], [data.tgt[i] for i in short])
    mixed = collate([data.src[i] for i in short + long_], [data.tgt[i] for i in short + long_])
    assert mixed["src"].size(1) > alone["src"].size(1) and mixed["tgt_in"].size(1) > alone["tgt_in"].size(1)
    n, T = len(short), alone["tgt_in"].size(1)
    with torch.no_grad():
        a, m = model(alone), model(mixed)
        real = alone["tgt_out"] != PAD
        torch.testing.assert_close(a[real], m[:n, :T][real], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(sentence_losses(model, alone), sentence_losses(model, mixed)[:n],
                                   atol=1e-4, rtol=1e-5)
        ga = model.greedy(alone["src"], alone["src_len"], 12)
        gm = model.greedy(mixed["src"], mixed["src_len"], 12)[:n]
        assert ga.tolist() == gm[:, :ga.size(1)].tolist()


def test_loss_ignores_target_padding(task):
    problem = task.build({"subset": 100, "max_len": 15, "variant": "translate"}, seed=0)
    model = problem.model.eval()
    batch = problem.get_batch(torch.arange(8))
    n_tokens = int((batch["tgt_out"] != PAD).sum())
    with torch.no_grad():
        assert problem.loss(model, batch).item() == pytest.approx(
            sentence_losses(model, batch).sum().item() / n_tokens, rel=1e-5)


# --- the Problem and its metrics ---------------------------------------------------------------

def test_every_variant_has_the_same_parameters_and_all_metrics(task):
    shapes = None
    for variant in ("lm", "first_word", "translate"):
        problem = task.build({"subset": 50, "max_len": 8, "variant": variant}, seed=0)
        s = {k: v.shape for k, v in problem.model.state_dict().items()}
        assert shapes is None or s == shapes  # so each stage warm-starts the next
        shapes = s
        batch = problem.get_batch(torch.arange(4))
        assert problem.loss(problem.model, batch).ndim == 0
        with torch.no_grad():
            metrics = problem.evaluate(problem.model.eval())
        assert set(metrics) == set(METRICS) - {"train/loss"}
        assert all(math.isfinite(v) for v in metrics.values())
        assert problem.chance_loss == pytest.approx(math.log(len(task.tgt_vocab)))
        assert "| source | reference | model |" in problem.samples(problem.model)["translations"]
        rows = problem.extras["test_translations"](problem.model)
        assert len(rows) == 5 and all(len(r) == 3 for r in rows)


def test_variants_view_the_data(task):
    fw = task.view(task.splits["train"], "first_word", 15, 20)
    assert all(len(s) <= 3 and len(t) == 1 for s, t in fw.pairs)
    lm = task.view(task.splits["train"], "lm", 15, 20)
    assert all(s == [] for s, _ in lm.pairs)
    short = task.view(task.splits["train"], "translate", 5)
    assert all(len(s) <= 5 for s, _ in short.pairs) and 0 < len(short) < len(task.splits["train"])
    problem = task.build({"subset": 37, "max_len": 5, "variant": "translate"}, seed=0)
    assert problem.train_size == 37


def test_lm_ignores_the_source(task):
    problem = task.build({"subset": 50, "max_len": 15, "variant": "lm"}, seed=0)
    model = problem.model.eval()
    batch = problem.get_batch(torch.arange(6))
    other = dict(batch, src=torch.randint(4, len(task.src_vocab), (6, 7)), src_len=torch.full((6,), 7))
    with torch.no_grad():
        torch.testing.assert_close(model(batch), model(other))


def test_unknown_variant_is_a_config_error(task):
    with pytest.raises(ConfigError, match="unknown variant"):
        task.build({"variant": "poetry"}, seed=0)


def test_same_seed_same_training(task):
    def train():
        torch.manual_seed(3)
        problem = task.build({"subset": 64, "max_len": 10, "variant": "translate"}, seed=3)
        opt = torch.optim.Adam(problem.model.parameters(), 3e-3)
        for i in range(5):
            loss = problem.loss(problem.model, problem.get_batch(torch.arange(i * 8, i * 8 + 16) % 64))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return problem.evaluate(problem.model.eval())
    assert train() == train()


def test_bleu_hand_checked_cases():
    assert bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    assert bleu(["a b c d"], ["w x y z"]) == pytest.approx(0.0)
    # n-gram precisions 5/6, 4/5, 3/4, 2/3, equal lengths: (1/3) ** (1/4)
    assert bleu(["a b c d e f"], ["a b c d e g"]) == pytest.approx(100 * (1 / 3) ** 0.25, abs=1e-3)
    # all precisions 1, hypothesis 4 words vs reference 6: brevity penalty exp(1 - 6/4)
    assert bleu(["a b c d"], ["a b c d e f"]) == pytest.approx(100 * math.exp(-0.5), abs=1e-3)
    assert bleu([], []) == 0.0


def test_evaluate_wires_greedy_outputs_into_the_metrics(task, monkeypatch):
    problem = task.build({"subset": 50, "max_len": 15, "variant": "translate"}, seed=0)
    val = task.view(task.splits["valid"], "translate", 15, task.eval_sentences)
    refs = [t for _, t in val.pairs]
    train_refs = [t for _, t in task.view(task.splits["train"], "translate", 15, 50).pairs]
    calls = []

    def perfect(model, batch, max_len):  # the references, as a flawless model would decode them
        calls.append(1)
        return refs if len(calls) % 2 == 1 else train_refs

    monkeypatch.setattr(task, "_decode", perfect)
    with torch.no_grad():
        m = problem.evaluate(problem.model.eval())
    assert m["val/bleu"] == pytest.approx(100.0) and m["val/exact_match"] == 1.0
    assert m["val/first_word_acc"] == 1.0 and m["train/exact_match"] == 1.0
    assert m["val/perplexity"] == pytest.approx(math.exp(m["val/loss"]))

    wrong = [r[1:] + r[:1] for r in refs]  # every sentence rotated by one word
    calls.clear()
    monkeypatch.setattr(task, "_decode", lambda model, batch, n: wrong if not calls.append(1) and len(calls) == 1
                        else train_refs)
    with torch.no_grad():
        m = problem.evaluate(problem.model.eval())
    expected = bleu([" ".join(w) for w in wrong], [" ".join(r) for r in refs])
    assert m["val/bleu"] == pytest.approx(expected) and 0 < expected < 100
    assert m["val/exact_match"] == 0.0


# --- end to end through the CLI ----------------------------------------------------------------

def test_cli_reports_a_malformed_corpus_in_one_line(tmp_path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("a b\tx y\nno tab here\n")
    cmd = [sys.executable, "-m", "orchestrator", "+task=translation", f"task.data_path={bad}",
           f"hydra.run.dir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{bad}:2" in lines[0] and "no tab" in lines[0], done.stderr


def test_cli_runs_the_translation_ladder(tmp_path):
    """The whole ladder through the CLI, shrunk (small corpus and model, easy goals) to take seconds."""
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "orchestrator", "+task=translation", f"hydra.run.dir={run_dir}",
           "task.train_pairs=1000", "task.valid_pairs=40", "task.test_pairs=40", "task.eval_sentences=40",
           "task.train_eval_sentences=20", "task.emb=32", "task.hidden=64", "knobs.subset.hard=1000",
           "ladder.eval_every=10", "ladder.max_insertions=0", "ladder.stages.overfit_100.knobs.subset=20",
           "ladder.stages.target_lm.goal.target=200", "ladder.stages.first_word.goal.target=0.1",
           "ladder.stages.translate.goal.metric=val/bleu", "ladder.stages.translate.goal.target=1",
           # the sub-problems are fallback stages: trained here on every run, as the README says how
           "ladder.stages.target_lm.fallback=false", "ladder.stages.first_word.fallback=false",
           "log.console=false"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    doc = json.loads((run_dir / "ladder.json").read_text())
    assert doc["status"] == "converged"
    assert [s["name"] for s in doc["stages"]] == ["overfit_10", "overfit_100", "target_lm", "first_word", "translate"]
    assert [s["knobs"]["variant"] for s in doc["stages"]] == ["translate", "translate", "lm", "first_word", "translate"]
    assert all(s["status"] == "converged" for s in doc["stages"])
    assert (run_dir / "checkpoints" / "translate" / "final.pt").exists()
    assert "Test translations (translate)" in (run_dir / "report.md").read_text()
