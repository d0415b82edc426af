"""Built-in translation task on a generated language pair (or a user's TSV corpus).

See grammar.py for the language pair, models.py for the GRU and Transformer encoder-decoders,
task.py for the knobs and metrics; the ladder is conf/task/translation.yaml.
"""
from .task import METRICS, TranslationTask, bleu

__all__ = ["TranslationTask", "METRICS", "bleu"]
