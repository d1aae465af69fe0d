"""The fine-tuned network: any Hugging Face encoder plus three small heads (torch).

Heads, all on the attention-masked mean of the last hidden states:
- sentiment: 3 logits (neg, neu, pos) for the whole text;
- topics: one logit per taxonomy topic (multi-label, sigmoid);
- polarity: 3 logits per topic (the text's polarity about that topic, read only where it is present).
One forward pass serves every topic (the sentence-pair "text / topic" formulation needs one per topic,
K times the CPU cost at serving time).
"""

from __future__ import annotations

import torch
from torch import nn

N_SENTIMENTS = 3


class FeedbackNet(nn.Module):
    def __init__(self, encoder: nn.Module, hidden_size: int, n_topics: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.n_topics = n_topics
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden_size, N_SENTIMENTS)
        self.topics = nn.Linear(hidden_size, max(n_topics, 1))
        self.polarity = nn.Linear(hidden_size, max(n_topics, 1) * N_SENTIMENTS)

    @classmethod
    def from_config(cls, config, n_topics: int, attn_implementation: str | None = None) -> FeedbackNet:
        """An untrained network of this encoder config (weights are loaded afterwards)."""
        from transformers import AutoModel

        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        encoder = AutoModel.from_config(config, **kwargs)
        return cls(encoder, config.hidden_size, n_topics)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        polarity = self.polarity(pooled).view(-1, max(self.n_topics, 1), N_SENTIMENTS)
        return self.sentiment(pooled), self.topics(pooled), polarity
