"""Cold start for a new taxonomy: seed words/phrases weakly label unlabelled texts.

An analyst writes a taxonomy with a few seeds per topic and has few or no labelled comments. A text
that contains a topic's seed (matched on normalized words, so spelling variants the normalizer
unifies match too) is a weak positive for that topic; a text that matches no seed at all is a weak
"no topic" example. The topic model trained on these generalises past the seeds through the words
that co-occur with them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from models.features import TOKEN_PATTERN
from models.taxonomy import Taxonomy

_TOKEN = re.compile(TOKEN_PATTERN)


class SeedLabeler:
    """Weak multi-label topic labels from a taxonomy's seeds.

    ``normalize`` maps a seed the way texts are normalized (the nlp pipeline's ``process(s).text``);
    matching is on whole tokens: a seed of several words must occur as that token sequence.
    """

    def __init__(self, taxonomy: Taxonomy, normalize=None):
        self.taxonomy = taxonomy
        self.normalize = normalize or (lambda s: s)

    def seed_tokens(self) -> list[list[tuple[str, ...]]]:
        """For every topic, its seeds as normalized token tuples."""
        out = []
        for topic in self.taxonomy.topics:
            seeds = {tuple(_TOKEN.findall(self.normalize(s))) for s in topic.seeds}
            out.append(sorted(s for s in seeds if s))
        return out

    @staticmethod
    def contains(tokens: Sequence[str], seed: tuple[str, ...]) -> bool:
        n = len(seed)
        if n == 1:
            return seed[0] in tokens
        return any(tuple(tokens[i: i + n]) == seed for i in range(len(tokens) - n + 1))

    def label(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_topics) 0/1 matrix: 1 where the text contains one of the topic's seeds."""
        seeds = self.seed_tokens()
        Y = np.zeros((len(texts), len(seeds)), dtype=np.int8)
        for i, text in enumerate(texts):
            tokens = _TOKEN.findall(text)
            token_set = set(tokens)
            for t, topic_seeds in enumerate(seeds):
                for seed in topic_seeds:
                    if seed[0] in token_set and self.contains(tokens, seed):
                        Y[i, t] = 1
                        break
        return Y

    def has_seeds(self) -> bool:
        return any(t.seeds for t in self.taxonomy.topics)
