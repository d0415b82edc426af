"""Corpora (generated or a user's tab-separated file), vocabularies and padded batches."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from orchestrator.errors import ConfigError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
Pair = tuple[list[str], list[str]]


class Vocab:
    """Word <-> id, with the special tokens first. Unknown words map to <unk>."""

    def __init__(self, sentences):
        words = sorted({w for s in sentences for w in s})  # sorted: the same corpus, the same ids
        self.itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, words) -> list[int]:
        return [self.stoi.get(w, UNK) for w in words]

    def decode(self, ids) -> list[str]:
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out


# --- a user's corpus -------------------------------------------------------------------------

KEY = "task.data_path"


def read_tsv(path: Path) -> list[Pair]:
    """source<TAB>target per line, whitespace-tokenised; blank lines are skipped.

    Anything else that is not exactly two non-empty tab-separated fields is a ConfigError naming
    the file and the line.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the corpus: {e.strerror or e}", key=KEY, where=str(path)) from None
    pairs = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        where = f"{path}:{n}"
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise ConfigError("line is not UTF-8 text", key=KEY, where=where) from None
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != 2:
            what = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
            raise ConfigError(f"expected 'source<TAB>target', found {what}", key=KEY, where=where)
        src, tgt = fields[0].split(), fields[1].split()
        if not src or not tgt:
            side = "source" if not src else "target"
            raise ConfigError(f"the {side} side is empty", key=KEY, where=where)
        pairs.append((src, tgt))
    if not pairs:
        raise ConfigError("the corpus holds no sentence pair", key=KEY, where=str(path))
    return pairs


def _split_file(folder: Path, split: str):
    for name in (f"{split}.tsv", f"{split}.txt", split):
        if (folder / name).is_file():
            return folder / name
    return None


def load_corpus(path: str, valid_size: int = 500, test_size: int = 500, seed: int = 0) -> dict[str, list[Pair]]:
    """A TSV file (valid/test are held out from it, by sentence) or a folder with train/valid[/test] files.

    A folder's files are `train.tsv`, `valid.tsv` and optionally `test.tsv` (`.txt` or no
    extension also work); without a test file, the test split is the validation split.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        train, valid = _split_file(p, "train"), _split_file(p, "valid")
        if train is None or valid is None:
            missing = "train.tsv" if train is None else "valid.tsv"
            raise ConfigError(f"the corpus folder has no {missing}", key=KEY, where=str(p))
        test = _split_file(p, "test")
        splits = {"train": read_tsv(train), "valid": read_tsv(valid)}
        splits["test"] = read_tsv(test) if test else splits["valid"]
        return splits
    if not p.exists():
        raise ConfigError("no such file or folder", key=KEY, where=str(p))
    pairs = read_tsv(p)
    # dedupe by source sentence, then hold out valid/test by sentence (a fixed shuffle)
    unique = list({" ".join(s): (s, t) for s, t in pairs}.values())
    if len(unique) < 3:
        raise ConfigError(f"the corpus has {len(unique)} distinct source sentences; at least 3 are needed "
                          "for train/valid/test", key=KEY, where=str(p))
    random.Random(seed).shuffle(unique)
    n_hold = min(valid_size + test_size, len(unique) // 5) or 2
    n_test = max(1, min(test_size, n_hold // 2))
    n_valid = max(1, n_hold - n_test)
    return {"test": unique[:n_test], "valid": unique[n_test:n_test + n_valid],
            "train": unique[n_test + n_valid:]}


# --- encoded examples and batches ------------------------------------------------------------

@dataclass
class Encoded:
    """A list of examples as id tensors; `src` may hold empty tensors (the LM variant)."""

    src: list[torch.Tensor]
    tgt: list[torch.Tensor]    # target ids, without BOS/EOS
    pairs: list[Pair]          # the words, for display and BLEU

    def __len__(self) -> int:
        return len(self.tgt)


def collate(src: list[torch.Tensor], tgt: list[torch.Tensor] | None = None) -> dict:
    """Pad to the longest example. tgt_in = BOS + target, tgt_out = target + EOS, PAD elsewhere."""
    src_len = torch.tensor([len(s) for s in src], dtype=torch.long)
    batch = {"src": pad_sequence(src, batch_first=True, padding_value=PAD) if src_len.max() > 0
             else torch.full((len(src), 1), PAD, dtype=torch.long),
             "src_len": src_len}
    if tgt is not None:
        bos = torch.tensor([BOS])
        eos = torch.tensor([EOS])
        batch["tgt_in"] = pad_sequence([torch.cat([bos, t]) for t in tgt], batch_first=True, padding_value=PAD)
        batch["tgt_out"] = pad_sequence([torch.cat([t, eos]) for t in tgt], batch_first=True, padding_value=PAD)
    return batch
