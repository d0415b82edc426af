"""A generated language pair: English-like SVO source, a made-up SOV target with inflection.

Source: ``Subj Verb [Obj] [Prep NP] .`` where an NP is ``Det Adj{0,2} Noun`` or (subject only) a
pronoun; the verb takes ``-s`` with a third-person singular subject, plural nouns end in ``-s``
(English spelling: boxes, cities, children).
Target (invented words, same meaning):
  * word order ``Subj [NP Postposition] [Obj] Verb .`` (verb last, prepositional phrase moved before the
    object, preposition becomes a postposition);
  * inside an NP: ``Noun Adj* [Demonstrative]`` with the adjectives in reverse order; articles vanish;
  * nouns inflect for number and case: stem + ``i`` (plural) + ``m`` (accusative, the object) or
    ``n`` (genitive, before a postposition); adjectives take ``i`` when their noun is plural;
  * the verb takes a person/number suffix agreeing with the subject (``-n`` I, ``-t`` you, ``-a``
    he/she/it/singular noun, ``-mme`` we, ``-vat`` they/plural noun), which the source verb
    ("see" for I/you/we/they) does not always show, so the subject must be consulted.
Everything is drawn from ``random.Random(seed)``: the same seed gives the same pairs.
"""
from __future__ import annotations

import random

NOUNS = ("dog cat bird horse cow fish child teacher doctor farmer king queen girl boy friend soldier "
         "student baker singer driver house tree river garden city village market school table chair "
         "book letter door window car boat train road bridge mountain forest field lake island apple "
         "bread cake cup box bag hat coat shoe key ball song story picture flower stone").split()
ADJECTIVES = "big small old young red green happy sad tall short quiet loud fast slow good bad".split()
TRANSITIVE = ("see like want find take carry push pull paint watch build visit open close clean "
              "follow help draw wash buy sell hold throw catch").split()
INTRANSITIVE = "sleep run sing dance laugh cry wait swim jump fall".split()
PREPOSITIONS = "in on near under behind".split()
PRONOUNS = {"I": "1sg", "you": "2sg", "he": "3sg", "she": "3sg", "it": "3sg", "we": "1pl", "they": "3pl"}
AGREEMENT = {"1sg": "n", "2sg": "t", "3sg": "a", "1pl": "mme", "3pl": "vat"}

_CONSONANTS = "ptkmnlrsvhjd"
_VOWELS = "aeiouy"


def english_s(word: str) -> str:
    """The -s form: a plural noun or a third-person singular verb (boxes, cities, carries, children)."""
    if word == "child":
        return "children"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _lexicon(words, rng: random.Random, taken: set, syllables: int) -> dict:
    """A unique invented stem for every word, made of consonant-vowel syllables."""
    out = {}
    for w in words:
        while True:
            stem = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables))
            if stem not in taken:
                taken.add(stem)
                out[w] = stem
                break
    return out


class Grammar:
    """Source sentences and their translations, from a fixed invented lexicon."""

    def __init__(self, lexicon_seed: int = 1234):
        rng = random.Random(lexicon_seed)
        taken: set = set()
        self.noun = _lexicon(NOUNS, rng, taken, 2)
        self.adj = _lexicon(ADJECTIVES, rng, taken, 2)
        self.verb = _lexicon(TRANSITIVE + INTRANSITIVE, rng, taken, 2)
        self.prep = _lexicon(PREPOSITIONS, rng, taken, 2)
        self.pron = _lexicon(list(PRONOUNS), rng, taken, 1)
        self.dem = {"sg": "tama", "pl": "nama"}  # "this" / "these"

    # --- noun phrases: (source words, target words, person) ---
    def _np(self, rng: random.Random, case: str, pronoun_ok: bool):
        if pronoun_ok and rng.random() < 0.25:
            p = rng.choice(list(PRONOUNS))
            return [p], [self.pron[p]], PRONOUNS[p]
        plural = rng.random() < 0.4
        noun = rng.choice(NOUNS)
        n_adj = rng.choices((0, 1, 2), weights=(0.5, 0.35, 0.15))[0]
        adjs = rng.sample(ADJECTIVES, n_adj)
        det = rng.choice(("the", "some", "these") if plural else ("the", "a", "this"))
        src = [det] + adjs + [english_s(noun) if plural else noun]
        suffix = ("i" if plural else "") + {"nom": "", "acc": "m", "gen": "n"}[case]
        tgt = [self.noun[noun] + suffix] + [self.adj[a] + ("i" if plural else "") for a in reversed(adjs)]
        if det in ("this", "these"):
            tgt.append(self.dem["pl" if plural else "sg"])
        return src, tgt, "3pl" if plural else "3sg"

    def sentence(self, rng: random.Random) -> tuple[list[str], list[str]]:
        subj_s, subj_t, person = self._np(rng, "nom", pronoun_ok=True)
        transitive = rng.random() < 0.7
        verb = rng.choice(TRANSITIVE if transitive else INTRANSITIVE)
        verb_s = english_s(verb) if person == "3sg" else verb
        verb_t = self.verb[verb] + AGREEMENT[person]
        src, obj_t, pp_t = subj_s + [verb_s], [], []
        if transitive:
            obj_s, obj_t, _ = self._np(rng, "acc", pronoun_ok=False)
            src += obj_s
        if rng.random() < 0.4:
            prep = rng.choice(PREPOSITIONS)
            np_s, np_t, _ = self._np(rng, "gen", pronoun_ok=False)
            src += [prep] + np_s
            pp_t = np_t + [self.prep[prep]]
        return src + ["."], subj_t + pp_t + obj_t + [verb_t, "."]


def generate_splits(sizes: dict[str, int], seed: int = 0, lexicon_seed: int = 1234) -> dict[str, list]:
    """Disjoint splits of unique pairs: no source and no target sentence occurs twice anywhere.

    Splits are filled in the order test, valid, train, so growing `train` keeps the others fixed.
    """
    grammar = Grammar(lexicon_seed)
    rng = random.Random(seed)
    seen_src, seen_tgt = set(), set()
    splits: dict[str, list] = {}
    for name in ("test", "valid", "train"):
        pairs = []
        tries = 0
        while len(pairs) < sizes[name]:
            tries += 1
            if tries > 50 * sizes[name] + 1000:
                raise RuntimeError(f"the grammar cannot produce {sizes[name]} more unique sentences")
            src, tgt = grammar.sentence(rng)
            s, t = " ".join(src), " ".join(tgt)
            if s in seen_src or t in seen_tgt:
                continue
            seen_src.add(s)
            seen_tgt.add(t)
            pairs.append((src, tgt))
        splits[name] = pairs
    return splits
