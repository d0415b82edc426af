"""The translation task: knobs -> a Problem (data view, model, loss, metrics, samples)."""
from __future__ import annotations

import math
from typing import Any, Mapping

import sacrebleu
import torch
import torch.nn.functional as F

from orchestrator.errors import ConfigError
from orchestrator.tables import translations_markdown
from orchestrator.task import Problem

from .data import PAD, Encoded, Pair, Vocab, collate, load_corpus
from .grammar import generate_splits
from .models import Seq2Seq, build_model

VARIANTS = ("lm", "first_word", "translate")

METRICS = (
    "train/loss",          # logged by the engine from the batch losses
    "train/exact_match",   # greedy output == reference, on (at most train_eval_sentences of) the stage's training pairs
    "val/loss",            # teacher-forced cross-entropy per target word (EOS included), validation split
    "val/perplexity",      # exp(val/loss)
    "val/exact_match",     # greedy output == reference, whole sentence
    "val/bleu",            # sacrebleu corpus BLEU (0..100) of the greedy outputs, tokenize="none"
    "val/first_word_acc",  # the first output word == the first reference word
)


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (0..100) on already whitespace-tokenised text."""
    if not hypotheses:
        return 0.0
    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none", force=True).score)


class TranslationTask:
    """Translation with knobs `subset` (training pairs), `max_len` (source length cap) and `variant`.

    variant "translate": source -> target. "first_word": the first `first_word_context` source
    words -> the first target word. "lm": no source, the decoder alone models target sentences.
    The vocabularies come from the whole training split, so every stage has the same parameter
    shapes and warm-starts from the one before.
    """

    metrics = METRICS

    def __init__(self, data_path: str | None = None, model: str = "gru", emb: int = 64, hidden: int = 128,
                 bidirectional: bool = True, attention: str = "additive", heads: int = 4, layers: int = 2,
                 ff: int = 256, dropout: float = 0.1, train_pairs: int = 20000, valid_pairs: int = 500,
                 test_pairs: int = 500, data_seed: int = 0, eval_sentences: int = 300,
                 train_eval_sentences: int = 200, first_word_context: int = 3, max_tokens: int = 100,
                 samples: int = 4):
        if model not in ("gru", "transformer"):
            raise ConfigError(f"unknown model {model!r} (expected gru or transformer)", key="task.model")
        if attention not in ("additive", "dot"):
            raise ConfigError(f"unknown attention {attention!r} (expected additive or dot)", key="task.attention")
        if data_path:
            self.splits = load_corpus(data_path, valid_pairs, test_pairs, data_seed)
        else:
            self.splits = generate_splits({"train": train_pairs, "valid": valid_pairs, "test": test_pairs},
                                          seed=data_seed)
        self.max_tokens = max_tokens
        self.splits = {k: [(s[:max_tokens], t[:max_tokens]) for s, t in v] for k, v in self.splits.items()}
        self.src_vocab = Vocab(s for s, _ in self.splits["train"])
        self.tgt_vocab = Vocab(t for _, t in self.splits["train"])
        self.model_kind = model
        self.model_args = dict(emb=emb, hidden=hidden, bidirectional=bidirectional, attention=attention,
                               heads=heads, layers=layers, ff=ff, dropout=dropout, max_positions=max_tokens + 2)
        self.eval_sentences, self.train_eval_sentences = eval_sentences, train_eval_sentences
        self.first_word_context, self.n_samples = first_word_context, samples

    # --- data views ------------------------------------------------------------------------

    def view(self, pairs: list[Pair], variant: str, max_len: int, limit: int | None = None) -> Encoded:
        """The pairs whose source has at most max_len words, as the variant sees them."""
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})",
                              key="knobs.variant")
        chosen = [(s, t) for s, t in pairs if len(s) <= max_len]
        if limit is not None:
            chosen = chosen[:limit]
        if variant == "first_word":
            chosen = [(s[:self.first_word_context], t[:1]) for s, t in chosen]
        elif variant == "lm":
            chosen = [([], t) for _, t in chosen]
        src = [torch.tensor(self.src_vocab.encode(s), dtype=torch.long) for s, _ in chosen]
        tgt = [torch.tensor(self.tgt_vocab.encode(t), dtype=torch.long) for _, t in chosen]
        return Encoded(src, tgt, chosen)

    def new_model(self, variant: str = "translate") -> Seq2Seq:
        model = build_model(self.model_kind, len(self.src_vocab), len(self.tgt_vocab), **self.model_args)
        model.use_source = variant != "lm"
        return model

    # --- the Problem -----------------------------------------------------------------------

    def build(self, knobs: Mapping[str, Any], seed: int) -> Problem:
        variant = str(knobs.get("variant", "translate"))
        max_len = int(knobs.get("max_len", 10**9))
        subset = int(knobs.get("subset", len(self.splits["train"])))
        if subset < 1 or max_len < 1:
            raise ConfigError(f"subset and max_len must be >= 1, got subset={subset}, max_len={max_len}",
                              key="knobs")
        train = self.view(self.splits["train"], variant, max_len, subset)
        if len(train) == 0:
            raise ConfigError(f"no training pair has a source of at most {max_len} words", key="knobs.max_len")
        val = self.view(self.splits["valid"], variant, max_len, self.eval_sentences)
        if len(val) == 0:  # a length cap below every validation sentence: validate on the shortest ones
            val = self.view(sorted(self.splits["valid"], key=lambda p: len(p[0])), variant, 10**9,
                            self.eval_sentences)
        train_eval = Encoded(train.src[:self.train_eval_sentences], train.tgt[:self.train_eval_sentences],
                             train.pairs[:self.train_eval_sentences])
        model = self.new_model(variant)
        val_batch = collate(val.src, val.tgt)
        train_eval_batch = collate(train_eval.src, train_eval.tgt)
        longest = max(len(t) for t in train.tgt + val.tgt)
        decode_len = longest + 5  # a limit only; decoding stops at EOS

        def get_batch(idx: torch.Tensor) -> dict:
            ids = idx.tolist()
            return collate([train.src[i] for i in ids], [train.tgt[i] for i in ids])

        def loss(model, batch) -> torch.Tensor:
            return token_loss(model(batch), batch["tgt_out"])

        def evaluate(model) -> dict[str, float]:
            device = next(model.parameters()).device
            vb = {k: v.to(device) for k, v in val_batch.items()}
            val_loss = token_loss(model(vb), vb["tgt_out"]).item()
            outs = self._decode(model, val_batch, decode_len)
            refs = [t for _, t in val.pairs]
            train_outs = self._decode(model, train_eval_batch, decode_len)
            return {
                "train/exact_match": _mean([o == r for o, (_, r) in zip(train_outs, train_eval.pairs)]),
                "val/loss": val_loss,
                "val/perplexity": math.exp(min(val_loss, 50.0)),
                "val/exact_match": _mean([o == r for o, r in zip(outs, refs)]),
                "val/bleu": bleu([" ".join(o) for o in outs], [" ".join(r) for r in refs]),
                "val/first_word_acc": _mean([o[:1] == r[:1] for o, r in zip(outs, refs)]),
            }

        def samples(model) -> dict[str, str]:
            rows = self._translate(model, val, self.n_samples, decode_len)
            return {"translations": f"Validation sentences (not trained on), greedy decoding, the first "
                                    f"{len(rows)}:\n\n" + translations_markdown(rows)}

        def show_batch(batch: dict) -> list[str]:  # the words behind the ids the model is fed
            return [f"{' '.join(self.src_vocab.decode(s)) or '(no source: language model)'} → "
                    f"{' '.join(self.tgt_vocab.decode(t))}"
                    for s, t in zip(batch["src"].tolist(), batch["tgt_out"].tolist())]

        def test_translations(model, n: int = 5) -> list[tuple[str, str, str]]:
            return self.test_translations(model, n, knobs)

        def report_sections(model) -> dict[str, str]:
            return {"Test translations": translations_markdown(test_translations(model))}

        return Problem(model=model, train_size=len(train), get_batch=get_batch, loss=loss, evaluate=evaluate,
                       chance_loss=math.log(len(self.tgt_vocab)), samples=samples, report_sections=report_sections,
                       forward=lambda model, batch: model(batch), targets=lambda batch: batch["tgt_out"],
                       show_batch=show_batch,
                       extras={"test_translations": test_translations, "variant": variant,
                               "train_pairs": len(train), "val_pairs": len(val),
                               "src_vocab": len(self.src_vocab), "tgt_vocab": len(self.tgt_vocab)})

    def test_translations(self, model: Seq2Seq, n: int = 5, knobs: Mapping[str, Any] | None = None):
        """(source, reference, model output) for the first n test sentences at these knobs (default: hard)."""
        knobs = dict(knobs or {})
        variant = str(knobs.get("variant", "translate"))
        test = self.view(self.splits["test"], variant, int(knobs.get("max_len", 10**9)), n)
        model.use_source = variant != "lm"
        was_training = model.training
        model.eval()
        try:
            return self._translate(model, test, n, max(len(t) for t in test.tgt) + 5)
        finally:
            model.train(was_training)

    # --- helpers ---------------------------------------------------------------------------

    def _decode(self, model: Seq2Seq, batch: dict, max_len: int) -> list[list[str]]:
        device = next(model.parameters()).device
        ids = model.greedy(batch["src"].to(device), batch["src_len"].to(device), max_len)
        return [self.tgt_vocab.decode(row) for row in ids.tolist()]

    def _translate(self, model: Seq2Seq, data: Encoded, n: int, max_len: int) -> list[tuple[str, str, str]]:
        n = min(n, len(data))
        if n == 0:
            return []
        outs = self._decode(model, collate(data.src[:n], data.tgt[:n]), max_len)
        return [(" ".join(s) or "(no source: language model)", " ".join(t), " ".join(o))
                for (s, t), o in zip(data.pairs[:n], outs)]


def _mean(flags) -> float:
    flags = list(flags)
    return sum(flags) / len(flags) if flags else 0.0


def token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the target tokens, padding left out."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=PAD)
